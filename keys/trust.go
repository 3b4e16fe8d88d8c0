package keys

import (
	"crypto/ed25519"
	"errors"
	"sort"
)

// ErrUntrusted means a file was signed by a key that is not in the trust set.
var ErrUntrusted = errors.New("signed by a key that is not trusted")

// TrustSet is a set of public keys, looked up by key ID. A vendor rotates
// keys by adding the new public key to the set; files signed by the old key
// keep verifying until the old key is removed.
type TrustSet struct {
	keys map[ID]ed25519.PublicKey
}

// NewTrustSet returns a trust set holding pubs.
func NewTrustSet(pubs ...ed25519.PublicKey) *TrustSet {
	t := &TrustSet{keys: make(map[ID]ed25519.PublicKey)}
	for _, p := range pubs {
		t.Add(p)
	}
	return t
}

// ParseTrustSet reads a trust file: one or more PEM "PUBLIC KEY" blocks.
func ParseTrustSet(data []byte) (*TrustSet, error) {
	pubs, err := ParsePublicKeys(data)
	if err != nil {
		return nil, err
	}
	return NewTrustSet(pubs...), nil
}

// Add puts pub in the set; adding a key twice is harmless.
func (t *TrustSet) Add(pub ed25519.PublicKey) {
	t.keys[KeyID(pub)] = append(ed25519.PublicKey(nil), pub...)
}

// Remove takes the key with the given ID out of the set.
func (t *TrustSet) Remove(id ID) { delete(t.keys, id) }

// Lookup returns the key with the given ID, or ErrUntrusted.
func (t *TrustSet) Lookup(id ID) (ed25519.PublicKey, error) {
	if t == nil {
		return nil, ErrUntrusted
	}
	k, ok := t.keys[id]
	if !ok {
		return nil, ErrUntrusted
	}
	return k, nil
}

// IDs lists the key IDs in the set, sorted.
func (t *TrustSet) IDs() []ID {
	ids := make([]ID, 0, len(t.keys))
	for id := range t.keys {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	return ids
}

// Marshal writes the set as concatenated PEM public keys, sorted by key ID.
func (t *TrustSet) Marshal() []byte {
	var out []byte
	for _, id := range t.IDs() {
		out = append(out, MarshalPublicKey(t.keys[id])...)
	}
	return out
}
