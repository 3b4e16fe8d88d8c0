package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

// PrivateKeyLabel is the PEM type of an encrypted oat private key file.
const PrivateKeyLabel = "OAT ENCRYPTED PRIVATE KEY"

// Sentinel errors for private key files.
var (
	ErrWrongPassphrase = errors.New("wrong passphrase, or the key file was altered")
	ErrEmptyPassphrase = errors.New("the passphrase is empty")
	ErrNotPrivateKey   = errors.New("not an oat encrypted private key (-----BEGIN " + PrivateKeyLabel + "-----)")
)

// KDFParams are the argon2id parameters used to derive the key-encryption key.
type KDFParams struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
}

// DefaultKDF follows RFC 9106's second recommended option (64 MiB, t=3, p=4).
var DefaultKDF = KDFParams{Time: 3, Memory: 64 << 10, Threads: 4}

// Upper bounds on what a key file may ask of us, so that a hostile file
// cannot make decryption allocate or spin without limit.
const (
	maxKDFTime   = 16
	maxKDFMemory = 1 << 20 // KiB, i.e. 1 GiB
)

// EncryptPrivateKey seals the key's 32-byte seed with XChaCha20-Poly1305
// under a key derived from passphrase by argon2id, and returns the PEM file.
//
// The file is a PEM block of type PrivateKeyLabel with these headers:
//
//	Kdf: argon2id
//	Kdf-Params: t=3,m=65536,p=4
//	Salt: <base64, 16 bytes>
//	Cipher: xchacha20poly1305
//	Nonce: <base64, 24 bytes>
//	Key-Id: <hex key ID of the public key>
//
// and the sealed seed (32 + 16 bytes) as its body. The additional data of the
// AEAD is the line "oat private key v1" followed by each header as
// "Name: value\n" in the order above, so no header can be changed unnoticed.
func EncryptPrivateKey(priv ed25519.PrivateKey, passphrase []byte, p KDFParams) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	salt := make([]byte, 16)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	h := header{
		kdfParams: p,
		salt:      salt,
		nonce:     nonce,
		keyID:     KeyID(priv.Public().(ed25519.PublicKey)),
	}
	aead, err := chacha20poly1305.NewX(h.derive(passphrase))
	if err != nil {
		return nil, err
	}
	sealed := aead.Seal(nil, nonce, priv.Seed(), h.aad())
	return pem.EncodeToMemory(&pem.Block{Type: PrivateKeyLabel, Headers: h.pemHeaders(), Bytes: sealed}), nil
}

// DecryptPrivateKey opens a file written by EncryptPrivateKey.
func DecryptPrivateKey(data, passphrase []byte) (ed25519.PrivateKey, error) {
	if len(data) > MaxPublicKeyFile {
		return nil, fmt.Errorf("key file is larger than %d bytes: %w", MaxPublicKeyFile, ErrNotPrivateKey)
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != PrivateKeyLabel || len(trimSpace(rest)) != 0 {
		return nil, ErrNotPrivateKey
	}
	h, err := parseHeader(block.Headers)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrNotPrivateKey)
	}
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	aead, err := chacha20poly1305.NewX(h.derive(passphrase))
	if err != nil {
		return nil, err
	}
	seed, err := aead.Open(nil, h.nonce, block.Bytes, h.aad())
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, ErrWrongPassphrase
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if KeyID(priv.Public().(ed25519.PublicKey)) != h.keyID {
		return nil, fmt.Errorf("key ID does not match the key: %w", ErrNotPrivateKey)
	}
	return priv, nil
}

type header struct {
	kdfParams KDFParams
	salt      []byte
	nonce     []byte
	keyID     ID
}

func (h header) paramString() string {
	return fmt.Sprintf("t=%d,m=%d,p=%d", h.kdfParams.Time, h.kdfParams.Memory, h.kdfParams.Threads)
}

func (h header) pemHeaders() map[string]string {
	return map[string]string{
		"Kdf":        "argon2id",
		"Kdf-Params": h.paramString(),
		"Salt":       base64.StdEncoding.EncodeToString(h.salt),
		"Cipher":     "xchacha20poly1305",
		"Nonce":      base64.StdEncoding.EncodeToString(h.nonce),
		"Key-Id":     h.keyID.String(),
	}
}

var headerOrder = []string{"Kdf", "Kdf-Params", "Salt", "Cipher", "Nonce", "Key-Id"}

func (h header) aad() []byte {
	var b bytes.Buffer
	b.WriteString("oat private key v1\n")
	hs := h.pemHeaders()
	for _, k := range headerOrder {
		fmt.Fprintf(&b, "%s: %s\n", k, hs[k])
	}
	return b.Bytes()
}

func (h header) derive(passphrase []byte) []byte {
	p := h.kdfParams
	return argon2.IDKey(passphrase, h.salt, p.Time, p.Memory, p.Threads, chacha20poly1305.KeySize)
}

func parseHeader(hs map[string]string) (header, error) {
	var h header
	if len(hs) != len(headerOrder) {
		return h, errors.New("unexpected headers")
	}
	if hs["Kdf"] != "argon2id" {
		return h, fmt.Errorf("unsupported KDF %q", hs["Kdf"])
	}
	if hs["Cipher"] != "xchacha20poly1305" {
		return h, fmt.Errorf("unsupported cipher %q", hs["Cipher"])
	}
	var err error
	if h.kdfParams, err = parseKDFParams(hs["Kdf-Params"]); err != nil {
		return h, err
	}
	if h.salt, err = base64.StdEncoding.DecodeString(hs["Salt"]); err != nil || len(h.salt) < 16 || len(h.salt) > 64 {
		return h, errors.New("bad salt")
	}
	if h.nonce, err = base64.StdEncoding.DecodeString(hs["Nonce"]); err != nil || len(h.nonce) != chacha20poly1305.NonceSizeX {
		return h, errors.New("bad nonce")
	}
	id, err := hex.DecodeString(hs["Key-Id"])
	if err != nil || len(id) != IDSize {
		return h, errors.New("bad key ID")
	}
	copy(h.keyID[:], id)
	return h, nil
}

func parseKDFParams(s string) (KDFParams, error) {
	var p KDFParams
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return p, fmt.Errorf("bad KDF parameters %q", s)
	}
	vals := make([]uint64, 3)
	for i, name := range []string{"t=", "m=", "p="} {
		v, ok := strings.CutPrefix(parts[i], name)
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, fmt.Errorf("bad KDF parameters %q", s)
		}
		vals[i] = n
	}
	if vals[0] < 1 || vals[0] > maxKDFTime || vals[1] < 8*vals[2] || vals[1] > maxKDFMemory || vals[2] < 1 || vals[2] > 255 {
		return p, fmt.Errorf("KDF parameters %q out of range", s)
	}
	return KDFParams{Time: uint32(vals[0]), Memory: uint32(vals[1]), Threads: uint8(vals[2])}, nil
}

// MinPassphrase is the shortest passphrase, in characters, that oat accepts
// for a new private key unless told otherwise. The key file is encrypted
// with argon2id, which slows each guess, but a stolen file can be attacked
// offline for as long as the thief likes: below twelve characters a
// human-chosen passphrase falls to a dictionary search.
const MinPassphrase = 12

// ErrWeakPassphrase is returned by CheckPassphrase for a passphrase shorter
// than MinPassphrase.
var ErrWeakPassphrase = fmt.Errorf("the passphrase is shorter than %d characters", MinPassphrase)

// CheckPassphrase reports whether pass is long enough for a new key.
func CheckPassphrase(pass []byte) error {
	if utf8.RuneCount(pass) < MinPassphrase {
		return ErrWeakPassphrase
	}
	return nil
}
