// placeholder: owned by the crypto helper
