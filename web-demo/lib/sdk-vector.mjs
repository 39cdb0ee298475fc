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
