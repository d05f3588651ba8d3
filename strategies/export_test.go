package strategies

// EncodeSuperblock exposes encodeSuper to the external tests.
var EncodeSuperblock = encodeSuper
