package signing_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"testing"

	"github.com/oat-toolkit/oat/internal/forge"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/signing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rfc8032 are the Ed25519 test vectors of RFC 8032 §7.1.
var rfc8032 = []struct{ name, secret, public, message, signature string }{
	{"TEST 1",
		"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
		"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
		"",
		"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
	{"TEST 2",
		"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
		"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
		"72",
		"92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
	{"TEST 3",
		"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
		"fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
		"af82",
		"6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
	{"TEST 1024",
		"f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
		"278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
		"08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d879de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4feba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbefefd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed185ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f27088d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b0707e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128bab27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51addd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429ec96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb751fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34dff7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e488acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a32ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5fb93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b50d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380db2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
		"0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03"},
	{"TEST SHA(abc)",
		"833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
		"ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
		"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
		"dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"},
}

// TestRFC8032 checks the primitive against the RFC's vectors, then signs an
// oat file with each vector's key and checks it through Parse and Verify,
// with the hand-built Sig_structure giving the same signature.
func TestRFC8032(t *testing.T) {
	for _, v := range rfc8032 {
		priv := ed25519.NewKeyFromSeed(unhex(t, v.secret))
		pub := priv.Public().(ed25519.PublicKey)
		msg, sig := unhex(t, v.message), unhex(t, v.signature)
		if !bytes.Equal(pub, unhex(t, v.public)) {
			t.Errorf("%s: public key %x", v.name, pub)
		}
		if got := ed25519.Sign(priv, msg); !bytes.Equal(got, sig) {
			t.Errorf("%s: signature %x", v.name, got)
		}
		if !ed25519.Verify(pub, msg, sig) {
			t.Errorf("%s: does not verify", v.name)
		}

		// The same key through oat's own path.
		payload := forge.Map(forge.Tstr("vector"), forge.Tstr(v.name))
		file, err := signing.Seal(signing.License, priv, map[string]string{"vector": v.name})
		if err != nil {
			t.Fatal(err)
		}
		m, err := signing.Parse(file)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if err := m.Verify(pub); err != nil {
			t.Errorf("%s: our file does not verify: %v", v.name, err)
		}
		want := forge.SignAs(priv, forge.Protected(forge.AlgEdDSA, forge.LicenseType, forge.KID(priv)), payload)
		if !bytes.Equal(m.Raw(), want) {
			t.Errorf("%s: Seal wrote\n%x\nindependent encoding is\n%x", v.name, m.Raw(), want)
		}
	}
}

// order is the prime order L of the Ed25519 base point.
var order, _ = new(big.Int).SetString("7237005577332262213973186520562659776735838520519856180837085466221148291877", 10)

func le(b []byte) *big.Int {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(r)
}

func leBytes(n *big.Int, size int) []byte {
	be := n.FillBytes(make([]byte, size))
	out := make([]byte, size)
	for i := range be {
		out[size-1-i] = be[i]
	}
	return out
}

// smallOrder are the encodings of the eight points of small order on
// Edwards25519 and their non-canonical encodings (y not reduced mod p, or
// x = 0 with the sign bit set): the public keys for which cofactorless
// Ed25519 verification admits forgeries.
var smallOrder = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"0000000000000000000000000000000000000000000000000000000000000000", // order 4
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", // order 8
	"0100000000000000000000000000000000000000000000000000000000000080", // identity, x = 0 with sign bit
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // order 2, x = 0 with sign bit
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p, i.e. 0
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, i.e. 0, sign bit
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+1, i.e. the identity
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p+1, sign bit
}

// TestEd25519EdgeCases drives Wycheproof-style malformed signatures and
// weak public keys through signing.Message.Verify, inside real COSE
// messages. Only the unmodified signature may verify.
func TestEd25519EdgeCases(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(unhex(t, rfc8032[0].secret))
	pub := priv.Public().(ed25519.PublicKey)
	prot := forge.Protected(forge.AlgEdDSA, forge.LicenseType, forge.KID(priv))
	payload := forge.Map(forge.Int(1), forge.Tstr("edge"))
	sig := ed25519.Sign(priv, forge.SigStructure(prot, payload))
	R, S := sig[:32], le(sig[32:])

	verify := func(sig []byte, pub ed25519.PublicKey) error {
		m, err := signing.Parse(forge.Sign1(prot, payload, sig))
		if err != nil {
			return err
		}
		return m.Verify(pub)
	}
	if err := verify(sig, pub); err != nil {
		t.Fatalf("the genuine signature does not verify: %v", err)
	}

	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	identity := unhex(t, smallOrder[0])
	cases := []struct {
		name string
		sig  []byte
	}{
		{"S + L (non-canonical S, same point)", cat(R, leBytes(new(big.Int).Add(S, order), 32))},
		{"S + 2L", cat(R, leBytes(new(big.Int).Add(S, new(big.Int).Lsh(order, 1)), 32))},
		{"S = L", cat(R, leBytes(order, 32))},
		{"S = L - 1 (largest canonical, wrong)", cat(R, leBytes(new(big.Int).Sub(order, big.NewInt(1)), 32))},
		{"S = 2^256 - 1", cat(R, bytes.Repeat([]byte{0xff}, 32))},
		{"S with the top bit set", cat(R, append(bytes.Clone(sig[32:63]), sig[63]|0x80))},
		{"S = 0", cat(R, make([]byte, 32))},
		{"R = identity, S = 0", cat(identity, make([]byte, 32))},
		{"R with the sign bit flipped", cat(append(bytes.Clone(R[:31]), R[31]^0x80), sig[32:])},
		{"R not on the curve", cat(unhex(t, "0200000000000000000000000000000000000000000000000000000000000000"), sig[32:])},
		{"R non-canonical (y = p)", cat(unhex(t, smallOrder[10]), sig[32:])},
		{"all zero", make([]byte, 64)},
		{"all ones", bytes.Repeat([]byte{0xff}, 64)},
		{"R and S swapped", cat(sig[32:], R)},
		{"signature of the other message", ed25519.Sign(priv, forge.SigStructure(prot, append(bytes.Clone(payload), 0)))},
		{"signature over the payload alone", ed25519.Sign(priv, payload)},
		{"signature with external AAD", ed25519.Sign(priv, forge.Array(forge.Tstr("Signature1"), forge.Bstr(prot), forge.Bstr([]byte{0}), forge.Bstr(payload)))},
		{"signature with the Signature context", ed25519.Sign(priv, forge.Array(forge.Tstr("Signature"), forge.Bstr(prot), forge.Bstr(nil), forge.Bstr(payload)))},
	}
	for _, c := range cases {
		if err := verify(c.sig, pub); !errors.Is(err, signing.ErrSignature) {
			t.Errorf("%s: want ErrSignature, got %v", c.name, err)
		}
	}
	for _, n := range []int{0, 32, 63, 65, 128} {
		short := make([]byte, n)
		copy(short, sig)
		if err := verify(short, pub); !errors.Is(err, signing.ErrMalformed) {
			t.Errorf("%d-byte signature: want ErrMalformed, got %v", n, err)
		}
	}
}

// forgeWeak makes a COSE message that a small-order key "signed" without
// any private key: with S = 0 the verification equation reduces to
// R = -[k]A, which lies in the eight-element torsion group, so trying each
// of its points as R and a few payloads finds one that passes a
// cofactorless verifier.
func forgeWeak(t *testing.T, weak ed25519.PublicKey, ctype string, payload func(i int) []byte) (raw []byte, ok bool) {
	t.Helper()
	kid := keys.KeyID(weak)
	prot := forge.Protected(forge.AlgEdDSA, ctype, kid[:])
	for i := range 64 {
		p := payload(i)
		for _, r := range smallOrder[:8] {
			sig := append(unhex(t, r), make([]byte, 32)...)
			if ed25519.Verify(weak, forge.SigStructure(prot, p), sig) {
				return forge.Sign1(prot, p, sig), true
			}
		}
	}
	return nil, false
}

// TestSmallOrderKeys shows that each small-order public key admits a
// forgery under crypto/ed25519 itself, and that oat rejects every one of
// them: through Message.Verify, and through request.Parse, where the
// verifying key comes from the (attacker-written) cnf claim.
func TestSmallOrderKeys(t *testing.T) {
	for i, h := range smallOrder {
		weak := ed25519.PublicKey(unhex(t, h))
		raw, ok := forgeWeak(t, weak, forge.LicenseType, func(i int) []byte {
			return forge.Map(forge.Int(1), forge.Tstr(fmt.Sprint("attempt ", i)))
		})
		if !ok {
			t.Errorf("key %d (%s): no forgery found; is it really of small order?", i, h)
			continue
		}
		m, err := signing.Parse(raw)
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		if err := m.Verify(weak); !errors.Is(err, signing.ErrSignature) {
			t.Errorf("key %d (%s): Message.Verify accepted a forgery: %v", i, h, err)
		}

		// A request whose cnf claim names the weak key.
		s, _ := forge.NewSet()
		r := s.RequestClaims
		r.Confirm = signing.NewConfirmation(weak)
		raw, ok = forgeWeak(t, weak, forge.RequestType, func(i int) []byte {
			r.Host = fmt.Sprint("forged-", i)
			p, err := signing.MarshalClaims(r)
			if err != nil {
				t.Fatal(err)
			}
			return p
		})
		if !ok {
			t.Errorf("key %d: no forged request found", i)
			continue
		}
		if _, _, err := request.Parse(forge.Armor("OAT REQUEST", raw)); err == nil {
			t.Errorf("key %d (%s): request.Parse accepted a request forged for a small-order key", i, h)
		}
	}
}
