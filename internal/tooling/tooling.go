// Package tooling holds the key that opens a command descriptor's tooling
// methods (payload and reply types, decoding, untyped handlers) to the
// packages of this module: the catalogue, its generator and tests. Users
// cannot import an internal package, so they cannot make a Key, and a
// descriptor's public methods stay the ones a handler author needs.
package tooling

// Key is the argument of dispatcher.Descriptor's Tooling method. Its field
// is unexported, so no literal outside this package has its type.
type Key struct{ module bool }

// K is the key the module's packages pass.
var K = Key{module: true}
