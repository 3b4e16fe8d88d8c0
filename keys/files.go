package keys

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"

	"github.com/oat-toolkit/oat/atomicfile"
)

// MaxKeyFile caps the size of a key file read from disk.
const MaxKeyFile = MaxPublicKeyFile

// GenerateFiles creates a new Ed25519 key pair and writes PREFIX.key
// (encrypted, mode 0600) and PREFIX.pub (PEM SPKI, mode 0644). It refuses
// to overwrite either file, and writes neither if one of them exists.
func GenerateFiles(prefix string, passphrase []byte, p KDFParams) (ed25519.PublicKey, error) {
	keyPath, pubPath := prefix+".key", prefix+".pub"
	for _, f := range []string{keyPath, pubPath} {
		if _, err := os.Lstat(f); err == nil {
			return nil, fmt.Errorf("%s already exists; refusing to overwrite a key", f)
		}
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	sealed, err := EncryptPrivateKey(priv, passphrase, p)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Create(keyPath, sealed, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Create(pubPath, MarshalPublicKey(pub), 0o644); err != nil {
		os.Remove(keyPath)
		return nil, err
	}
	return pub, nil
}

// LoadPrivateKey reads and decrypts an encrypted private key file.
func LoadPrivateKey(path string, passphrase []byte) (ed25519.PrivateKey, error) {
	data, err := atomicfile.ReadCapped(path, MaxKeyFile)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	priv, err := DecryptPrivateKey(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", path, err)
	}
	return priv, nil
}

// LoadPublicKey reads a PEM SPKI public key file holding one key.
func LoadPublicKey(path string) (ed25519.PublicKey, error) {
	data, err := atomicfile.ReadCapped(path, MaxPublicKeyFile)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	pub, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", path, err)
	}
	return pub, nil
}

// LoadTrustSet reads a trust file of one or more PEM public keys.
func LoadTrustSet(path string) (*TrustSet, error) {
	data, err := atomicfile.ReadCapped(path, MaxPublicKeyFile)
	if err != nil {
		return nil, fmt.Errorf("trust file %s: %w", path, err)
	}
	t, err := ParseTrustSet(data)
	if err != nil {
		return nil, fmt.Errorf("trust file %s: %w", path, err)
	}
	return t, nil
}
