//! Protobuf messages of the KMS Instance API (`api.proto`, proto3), written by hand with prost.
//!
//! Field names, numbers and types are those of `docs/protocol.md#protobuf-messages`, which match the Go,
//! Java and Python SDK descriptors. No `protoc`, no build script.
//!
//! The struct names are the proto message names; the Rust field names are snake_case.

#![allow(missing_docs)]

#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub plaintext: Vec<u8>,
    #[prost(string, tag = "3")]
    pub algorithm: String,
    #[prost(bytes = "vec", tag = "4")]
    pub aad: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub iv: Vec<u8>,
    #[prost(string, tag = "6")]
    pub padding_mode: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub ciphertext_blob: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub iv: Vec<u8>,
    #[prost(string, tag = "4")]
    pub request_id: String,
    #[prost(string, tag = "5")]
    pub algorithm: String,
    #[prost(string, tag = "6")]
    pub padding_mode: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext_blob: Vec<u8>,
    #[prost(string, tag = "2")]
    pub key_id: String,
    #[prost(string, tag = "3")]
    pub algorithm: String,
    #[prost(bytes = "vec", tag = "4")]
    pub aad: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub iv: Vec<u8>,
    #[prost(string, tag = "6")]
    pub padding_mode: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub plaintext: Vec<u8>,
    #[prost(string, tag = "3")]
    pub request_id: String,
    #[prost(string, tag = "4")]
    pub algorithm: String,
    #[prost(string, tag = "5")]
    pub padding_mode: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvanceEncryptRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub plaintext: Vec<u8>,
    #[prost(string, tag = "3")]
    pub algorithm: String,
    #[prost(bytes = "vec", tag = "4")]
    pub aad: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub iv: Vec<u8>,
    #[prost(string, tag = "6")]
    pub padding_mode: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvanceEncryptResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub ciphertext_blob: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub iv: Vec<u8>,
    #[prost(string, tag = "4")]
    pub request_id: String,
    #[prost(string, tag = "5")]
    pub algorithm: String,
    #[prost(string, tag = "6")]
    pub padding_mode: String,
    #[prost(string, tag = "7")]
    pub key_version_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvanceDecryptRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext_blob: Vec<u8>,
    #[prost(string, tag = "2")]
    pub key_id: String,
    #[prost(string, tag = "3")]
    pub algorithm: String,
    #[prost(bytes = "vec", tag = "4")]
    pub aad: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub iv: Vec<u8>,
    #[prost(string, tag = "6")]
    pub padding_mode: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvanceDecryptResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub plaintext: Vec<u8>,
    #[prost(string, tag = "3")]
    pub request_id: String,
    #[prost(string, tag = "4")]
    pub algorithm: String,
    #[prost(string, tag = "5")]
    pub padding_mode: String,
    #[prost(string, tag = "6")]
    pub key_version_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SignRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub digest: Vec<u8>,
    #[prost(string, tag = "3")]
    pub algorithm: String,
    #[prost(bytes = "vec", tag = "4")]
    pub message: Vec<u8>,
    #[prost(string, tag = "5")]
    pub message_type: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SignResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
    #[prost(string, tag = "3")]
    pub request_id: String,
    #[prost(string, tag = "4")]
    pub algorithm: String,
    #[prost(string, tag = "5")]
    pub message_type: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VerifyRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub digest: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub signature: Vec<u8>,
    #[prost(string, tag = "4")]
    pub algorithm: String,
    #[prost(bytes = "vec", tag = "5")]
    pub message: Vec<u8>,
    #[prost(string, tag = "6")]
    pub message_type: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct VerifyResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bool, tag = "2")]
    pub value: bool,
    #[prost(string, tag = "3")]
    pub request_id: String,
    #[prost(string, tag = "4")]
    pub algorithm: String,
    #[prost(string, tag = "5")]
    pub message_type: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GenerateRandomRequest {
    #[prost(int32, tag = "1")]
    pub length: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GenerateRandomResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub random: Vec<u8>,
    #[prost(string, tag = "2")]
    pub request_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GenerateDataKeyRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(string, tag = "2")]
    pub algorithm: String,
    #[prost(int32, tag = "3")]
    pub number_of_bytes: i32,
    #[prost(bytes = "vec", tag = "4")]
    pub aad: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GenerateDataKeyResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub iv: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub plaintext: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub ciphertext_blob: Vec<u8>,
    #[prost(string, tag = "5")]
    pub request_id: String,
    #[prost(string, tag = "6")]
    pub algorithm: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvanceGenerateDataKeyRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(int32, tag = "2")]
    pub number_of_bytes: i32,
    #[prost(bytes = "vec", tag = "3")]
    pub aad: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvanceGenerateDataKeyResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub iv: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub plaintext: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub ciphertext_blob: Vec<u8>,
    #[prost(string, tag = "5")]
    pub request_id: String,
    #[prost(string, tag = "6")]
    pub algorithm: String,
    #[prost(string, tag = "7")]
    pub key_version_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GenerateDataKeyPairRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(string, tag = "2")]
    pub algorithm: String,
    #[prost(string, tag = "3")]
    pub key_pair_spec: String,
    #[prost(string, tag = "4")]
    pub key_format: String,
    #[prost(bytes = "vec", tag = "5")]
    pub aad: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GenerateDataKeyPairResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub iv: Vec<u8>,
    #[prost(string, tag = "3")]
    pub key_pair_spec: String,
    #[prost(bytes = "vec", tag = "4")]
    pub private_key_plaintext: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub private_key_ciphertext_blob: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    pub public_key: Vec<u8>,
    #[prost(string, tag = "7")]
    pub request_id: String,
    #[prost(string, tag = "8")]
    pub algorithm: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GenerateDataKeyPairWithoutPlaintextRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(string, tag = "2")]
    pub algorithm: String,
    #[prost(string, tag = "3")]
    pub key_pair_spec: String,
    #[prost(string, tag = "4")]
    pub key_format: String,
    #[prost(bytes = "vec", tag = "5")]
    pub aad: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GenerateDataKeyPairWithoutPlaintextResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub iv: Vec<u8>,
    #[prost(string, tag = "3")]
    pub key_pair_spec: String,
    #[prost(bytes = "vec", tag = "4")]
    pub private_key_ciphertext_blob: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub public_key: Vec<u8>,
    #[prost(string, tag = "6")]
    pub request_id: String,
    #[prost(string, tag = "7")]
    pub algorithm: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvanceGenerateDataKeyPairRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(string, tag = "2")]
    pub key_pair_spec: String,
    #[prost(string, tag = "3")]
    pub key_format: String,
    #[prost(bytes = "vec", tag = "4")]
    pub aad: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvanceGenerateDataKeyPairResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub iv: Vec<u8>,
    #[prost(string, tag = "3")]
    pub key_pair_spec: String,
    #[prost(bytes = "vec", tag = "4")]
    pub private_key_plaintext: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub private_key_ciphertext_blob: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    pub public_key: Vec<u8>,
    #[prost(string, tag = "7")]
    pub request_id: String,
    #[prost(string, tag = "8")]
    pub algorithm: String,
    #[prost(string, tag = "9")]
    pub key_version_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvanceGenerateDataKeyPairWithoutPlaintextRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(string, tag = "2")]
    pub key_pair_spec: String,
    #[prost(string, tag = "3")]
    pub key_format: String,
    #[prost(bytes = "vec", tag = "4")]
    pub aad: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AdvanceGenerateDataKeyPairWithoutPlaintextResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub iv: Vec<u8>,
    #[prost(string, tag = "3")]
    pub key_pair_spec: String,
    #[prost(bytes = "vec", tag = "4")]
    pub private_key_ciphertext_blob: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub public_key: Vec<u8>,
    #[prost(string, tag = "6")]
    pub request_id: String,
    #[prost(string, tag = "7")]
    pub algorithm: String,
    #[prost(string, tag = "8")]
    pub key_version_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetPublicKeyRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetPublicKeyResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(string, tag = "2")]
    pub public_key: String,
    #[prost(string, tag = "3")]
    pub request_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetSecretValueRequest {
    #[prost(string, tag = "1")]
    pub secret_name: String,
    #[prost(string, tag = "2")]
    pub version_stage: String,
    #[prost(string, tag = "3")]
    pub version_id: String,
    #[prost(bool, tag = "4")]
    pub fetch_extended_config: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetSecretValueResponse {
    #[prost(string, tag = "1")]
    pub secret_name: String,
    #[prost(string, tag = "2")]
    pub secret_type: String,
    #[prost(string, tag = "3")]
    pub secret_data: String,
    #[prost(string, tag = "4")]
    pub secret_data_type: String,
    #[prost(string, repeated, tag = "5")]
    pub version_stages: Vec<String>,
    #[prost(string, tag = "6")]
    pub version_id: String,
    #[prost(string, tag = "7")]
    pub create_time: String,
    #[prost(string, tag = "8")]
    pub request_id: String,
    #[prost(string, tag = "9")]
    pub last_rotation_date: String,
    #[prost(string, tag = "10")]
    pub next_rotation_date: String,
    #[prost(string, tag = "11")]
    pub extended_config: String,
    #[prost(string, tag = "12")]
    pub automatic_rotation: String,
    #[prost(string, tag = "13")]
    pub rotation_interval: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Error {
    #[prost(int32, tag = "1")]
    pub status_code: i32,
    #[prost(string, tag = "2")]
    pub error_code: String,
    #[prost(string, tag = "3")]
    pub error_message: String,
    #[prost(string, tag = "4")]
    pub request_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HmacRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub message: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HmacResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub signature: Vec<u8>,
    #[prost(string, tag = "3")]
    pub request_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HashRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub message: Vec<u8>,
    #[prost(string, tag = "2")]
    pub algorithm: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct HashResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub digest: Vec<u8>,
    #[prost(string, tag = "3")]
    pub request_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KmsEncryptRequest {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub plaintext: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub aad: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KmsEncryptResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub ciphertext_blob: Vec<u8>,
    #[prost(string, tag = "3")]
    pub request_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KmsDecryptRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext_blob: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub aad: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KmsDecryptResponse {
    #[prost(string, tag = "1")]
    pub key_id: String,
    #[prost(bytes = "vec", tag = "2")]
    pub plaintext: Vec<u8>,
    #[prost(string, tag = "3")]
    pub request_id: String,
}
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn error_encodes_like_the_reference_sample() {
        // docs/protocol.md#errors: Error{401, "SignatureNotMatch", "Signature is not matched.", "r1"}.
        let e = Error {
            status_code: 401,
            error_code: "SignatureNotMatch".into(),
            error_message: "Signature is not matched.".into(),
            request_id: "r1".into(),
        };
        assert_eq!(
            hex::encode(e.encode_to_vec()),
            "08910312115369676e61747572654e6f744d617463681a195369676e6174757265206973206e6f74206d6174636865642e22027231"
        );
    }

    #[test]
    fn field_numbers_of_irregular_messages() {
        // HashResponse skips field 2.
        let h = HashResponse { digest: vec![1], request_id: "r".into() };
        assert_eq!(h.encode_to_vec(), [0x0a, 1, 1, 0x1a, 1, b'r']);
        // GenerateDataKeyRequest: NumberOfBytes is field 3 (varint), Aad field 4.
        let g = GenerateDataKeyRequest { number_of_bytes: 5, aad: vec![9], ..Default::default() };
        assert_eq!(g.encode_to_vec(), [0x18, 5, 0x22, 1, 9]);
        // GetSecretValueResponse: VersionStages is repeated field 5; RequestId field 8.
        let s = GetSecretValueResponse {
            version_stages: vec!["a".into(), "b".into()],
            request_id: "r".into(),
            ..Default::default()
        };
        assert_eq!(s.encode_to_vec(), [0x2a, 1, b'a', 0x2a, 1, b'b', 0x42, 1, b'r']);
        // VerifyResponse.Value is a bool at field 2.
        assert_eq!(VerifyResponse { value: true, ..Default::default() }.encode_to_vec(), [0x10, 1]);
        // A request decodes from bytes the SDK would send (Python skips empty fields).
        let d = DecryptRequest::decode(&[0x0a, 2, 7, 8, 0x12, 1, b'k'][..]).unwrap();
        assert_eq!((d.ciphertext_blob, d.key_id.as_str()), (vec![7, 8], "k"));
    }
}
