// The Encrypt request of policy-core/tests/data/sdk-signed-encrypt.json, signed by the official
// KMS Instance SDK with its public unit-test client key (key_for_unit_test). Request only: no key.
// The example bundle binds key_for_unit_test to the access point `sdk-test`.
export const SDK_VECTOR = {
  "method": "POST",
  "headers": {
    "accept": "application/x-protobuf",
    "content-type": "application/x-protobuf",
    "content-length": "17",
    "content-sha256": "9B720278E3BCFA51F52CBB19923423FB272F26B6F702A81A958932410C82AFEB",
    "date": "Thu, 06 Feb 2020 07:32:54 GMT",
    "x-kms-acccesskeyid": "key_for_unit_test",
    "x-kms-apiname": "Encrypt",
    "x-kms-apiversion": "dkms-gcs-0.2",
    "x-kms-signaturemethod": "RSA_PKCS1_SHA_256",
    "authorization": "Bearer LQ0G+CaxmourGLTyrqUPH0PeqPccVCT6+KGn65p5duf/T0Hl9udyeqgOaBScsHw/rt9zUYrfZaUK1cWz1EWCeuX86UB1IkwKQKJnYofiDXoSBu/InbljqhLrGzO/3eOlWWS47b2ZYzhSWSg8kSn0rk4iP0UQ204hAmPo6MUdenQu9SMCHSmRuuEYVtZUJn7g4VwOUjwIajcM+JVzwFDRhuclnA7BWFuOT/bGYCoVX3lvaGLnpuvvXW8+SUBdgnwwXT2oRNJwueyubF0Bjw3B6VbuYBrZtFVFxMo+J9TVK3CVqu/sDJKiG80p1Qs/4tM367zOGmPBP2nG2rMpO735Rg=="
  },
  "bodyHex": "0a086b65792d74657374120568656c6c6f",
  "sourceIp": "172.16.8.20"
};

// GetSecretValue on the KMS endpoint (the shared gateway) as aliyun-python-sdk-core signs it for the
// Secrets Manager client with a client key (RPC v1, SHA256withRSA): reference vector 1 of
// policy-core/tests/vectors/openapi-signatures.json, signed with the same unit-test client key.
export const SHARED_GATEWAY_VECTOR = {
  "method": "POST",
  "url": "https://kms.cn-hangzhou.aliyuncs.com/?SecretName=my%2Fsecret%201&VersionStage=ACSCurrent&FetchExtendedConfig=True&Version=2016-01-20&Action=GetSecretValue&RegionId=cn-hangzhou&Timestamp=2020-02-06T07%3A32%3A54Z&SignatureMethod=SHA256withRSA&SignatureType=PRIVATEKEY&SignatureVersion=1.0&SignatureNonce=6b1f2d5a3c0e4f7a9b8c7d6e5f4a3b2c&AccessKeyId=key_for_unit_test&Format=JSON&Signature=b4tlQmERPDPYCW3k3wJPajtC2R34GO%2BPDh4UqOv1Vo9p4Z0TUiRd%2BZmXSHaq3Gz5Td736dJ6WhNfxx2F0Oma4aQjBJzk%2FWGabFUupzcgmEwJgJfaFFzUTFqOV9NSHUiG%2FUm9C0c5vNzFNGnXu%2FkBs04lDVlNbpXqDGAoWrsDZTKh3%2FKaEmBbKDK2S9%2FcsfpRSQSjPCFNWFkJrPxYSXZAdwx3efj5LuyEMrVCsAG7H7JnbFzCajSAtzUmWr5f5c3fUhPgfuLLSWqwUy7UmuqJYIR1eNrta9CmBxybI3IYP0FqbcEYFE6ZowOt7aN3k588IhtZGTLsBh8uU9jfNdjEnA%3D%3D",
  "timestamp": "2020-02-06T07:32:54Z",
  "sourceIp": "172.16.8.20"
};
