package signing_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/oat-toolkit/oat/checkin"
	"github.com/oat-toolkit/oat/keys"
	"github.com/oat-toolkit/oat/machine"
	"github.com/oat-toolkit/oat/release"
	"github.com/oat-toolkit/oat/request"
	"github.com/oat-toolkit/oat/response"
	"github.com/oat-toolkit/oat/rotation"
	"github.com/oat-toolkit/oat/signing"
)

var update = flag.Bool("update", false, "rewrite the test vectors in ../testdata/vectors")

const vectorDir = "../testdata/vectors"

// vector is one entry of testdata/vectors/manifest.json.
type vector struct {
	File   string `json:"file"`
	Kind   string `json:"kind"`            // request, license, release, checkin, ack
	Key    string `json:"key"`             // public key file to verify with
	Expect string `json:"expect"`          // "valid" or "invalid"
	Error  string `json:"error,omitempty"` // the error class for invalid files
	Why    string `json:"why"`             // what the vector shows
}

// errorClasses names the sentinel errors a verifier in any language should
// distinguish; the manifest uses these names.
var errorClasses = map[string]error{
	"too-large": signing.ErrTooLarge,
	"malformed": signing.ErrMalformed,
	"algorithm": signing.ErrAlgorithm,
	"critical":  signing.ErrCritical,
	"kind":      signing.ErrKind,
	"signature": signing.ErrSignature,
	"armor":     signing.ErrArmor,
	"claims":    signing.ErrClaims,
}

// verifyVector runs the full verification path for a file of the given kind.
func verifyVector(data []byte, kind string, pub ed25519.PublicKey) error {
	switch kind {
	case "request":
		r, key, err := request.Parse(data)
		if err != nil {
			return err
		}
		if !key.Equal(pub) || !r.SameInstallation(pub) {
			return errors.New("request from another installation")
		}
		return nil
	case "license":
		_, err := response.Parse(data, keys.NewTrustSet(pub))
		return err
	case "release":
		_, err := release.Parse(data, pub)
		return err
	case "checkin":
		_, err := checkin.ParseCheckIn(data, pub)
		return err
	case "ack":
		_, err := checkin.ParseAck(data, keys.NewTrustSet(pub))
		return err
	case "rotation":
		_, err := rotation.Trust([]ed25519.PublicKey{pub}, [][]byte{data})
		return err
	}
	return errors.New("unknown kind " + kind)
}

func TestVectors(t *testing.T) {
	if *update {
		writeVectors(t)
	}
	raw, err := os.ReadFile(filepath.Join(vectorDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 20 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for _, v := range vs {
		t.Run(v.File, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(vectorDir, v.File))
			if err != nil {
				t.Fatal(err)
			}
			pub, err := keys.LoadPublicKey(filepath.Join(vectorDir, v.Key))
			if err != nil {
				t.Fatal(err)
			}
			err = verifyVector(data, v.Kind, pub)
			switch v.Expect {
			case "valid":
				if err != nil {
					t.Fatalf("valid vector rejected: %v", err)
				}
			case "invalid":
				want, ok := errorClasses[v.Error]
				if !ok {
					t.Fatalf("unknown error class %q", v.Error)
				}
				if !errors.Is(err, want) {
					t.Fatalf("got %v, want %s", err, v.Error)
				}
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
			default:
				t.Fatalf("bad expect %q", v.Expect)
			}
		})
	}
}

// The keys of the vectors are derived from fixed seeds so that anyone can
// regenerate them; they are test keys and protect nothing.
var (
	vendorKey       = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x11}, 32))
	installationKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x22}, 32))
	strangerKey     = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x33}, 32))
)

func vectorMachine() machine.Fingerprint {
	h := func(b byte) []byte { return bytes.Repeat([]byte{b}, 16) }
	return machine.Fingerprint{
		Salt: h(0x01), GUID: h(0x02), UUID: h(0x03), Serial: h(0x04), Board: h(0x05), CPU: h(0x06),
		MACs: [][]byte{h(0x07)}, OS: "linux", Class: "server", Hyper: "kvm", Sockets: 1,
	}
}

func vectorRequest() request.Request {
	return request.Request{
		IssuedAt: 1795000000, Nonce: bytes.Repeat([]byte{0xaa}, 16),
		Order: "ORD-1001", Fulfillment: "FN-7788", Email: "admin@example.com",
		Products: []string{"backup-server", "replica-server"}, Host: "db01", Machine: vectorMachine(),
	}
}

func vectorLicense() response.License {
	return response.License{
		Issuer: "oat-desk.example", Activation: "act-0001", NotBefore: 1795000000, IssuedAt: 1795000000,
		ID: bytes.Repeat([]byte{0xbb}, 16), Confirm: signing.NewConfirmation(installationKey.Public().(ed25519.PublicKey)),
		Sequence: 1, Nonce: bytes.Repeat([]byte{0xaa}, 16), Host: "db01", Machine: vectorMachine(),
		Products: []response.Entitlement{
			{Code: "backup-server", Order: "ORD-1001", Fulfillment: "FN-7788", Model: "server", Seats: 1, Pool: "Default (Unassigned Licenses)"},
			{Code: "replica-server", Order: "ORD-1001", Fulfillment: "FN-7788", Model: "server", Seats: 1, Expires: 1826536000},
		},
	}
}

func vectorReceipt() release.Receipt {
	return release.Receipt{Activation: "act-0001", IssuedAt: 1796000000, ID: bytes.Repeat([]byte{0xcc}, 16),
		Sequence: 1, License: bytes.Repeat([]byte{0xbb}, 16), Host: "db01"}
}

func vectorCheckIn() checkin.CheckIn {
	return checkin.CheckIn{Activation: "act-0001", IssuedAt: 1795086400, Nonce: bytes.Repeat([]byte{0xdd}, 16), Sequence: 1}
}

func vectorAck(license []byte) checkin.Ack {
	return checkin.Ack{Issuer: "oat-desk.example", Activation: "act-0001", IssuedAt: 1795086460,
		Nonce: bytes.Repeat([]byte{0xdd}, 16), State: checkin.StateActive, Sequence: 2, License: license}
}

// sign1 builds a COSE_Sign1 by hand so that vectors can break any rule.
func sign1(t *testing.T, protected any, unprotected []byte, payload []byte, priv ed25519.PrivateKey) []byte {
	t.Helper()
	enc, _ := cbor.CoreDetEncOptions().EncMode()
	prot, ok := protected.([]byte)
	if !ok {
		var err error
		if prot, err = enc.Marshal(protected); err != nil {
			t.Fatal(err)
		}
	}
	tbs, _ := enc.Marshal([]any{"Signature1", prot, []byte{}, payload})
	body, _ := enc.Marshal([]any{prot, cbor.RawMessage(unprotected), payload, ed25519.Sign(priv, tbs)})
	return append([]byte{0xd2}, body...)
}

func header(alg int, ct string, priv ed25519.PrivateKey) map[int]any {
	id := keys.KeyID(priv.Public().(ed25519.PublicKey))
	return map[int]any{1: alg, 3: ct, 4: id[:]}
}

func writeVectors(t *testing.T) {
	os.MkdirAll(vectorDir, 0o755)
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(vectorDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("vendor.pub", keys.MarshalPublicKey(vendorKey.Public().(ed25519.PublicKey)))
	write("installation.pub", keys.MarshalPublicKey(installationKey.Public().(ed25519.PublicKey)))
	write("seeds.txt", []byte("Test keys of the vectors (Ed25519 seeds, hex). They protect nothing.\n"+
		"vendor       "+hex.EncodeToString(vendorKey.Seed())+"\n"+
		"installation "+hex.EncodeToString(installationKey.Seed())+"\n"+
		"stranger     "+hex.EncodeToString(strangerKey.Seed())+"\n"))

	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	req := must(request.Seal(vectorRequest(), installationKey))
	lic := must(response.Seal(vectorLicense(), vendorKey))
	rel := must(release.Seal(vectorReceipt(), installationKey))
	licMsg, err := signing.Parse(lic)
	if err != nil {
		t.Fatal(err)
	}
	licPayload := licMsg.Payload
	licCT := signing.License.ContentType()
	armorLic := func(raw []byte) []byte { return signing.Armor(signing.License, raw) }

	var vs []vector
	add := func(name, kind, key, expect, class, why string, data []byte) {
		write(name, data)
		vs = append(vs, vector{File: name, Kind: kind, Key: key, Expect: expect, Error: class, Why: why})
	}
	valid := func(name, kind, key, why string, data []byte) { add(name, kind, key, "valid", "", why, data) }
	invalid := func(name, kind, key, class, why string, data []byte) {
		add(name, kind, key, "invalid", class, why, data)
	}

	valid("request.oat", "request", "installation.pub", "a request, armored, self-signed by the installation key in its cnf claim", req)
	valid("license.oat", "license", "vendor.pub", "a license for two products, armored", lic)
	valid("license.cbor", "license", "vendor.pub", "the same license as raw COSE_Sign1 bytes", licMsg.Raw())
	valid("license-crlf.oat", "license", "vendor.pub", "armor with CRLF line ends, as pasted on Windows", bytes.ReplaceAll(lic, []byte("\n"), []byte("\r\n")))
	valid("release.oat", "release", "installation.pub", "a release receipt, armored", rel)

	badSig := bytes.Clone(licMsg.Raw())
	badSig[len(badSig)-1] ^= 1
	invalid("license-bad-signature.oat", "license", "vendor.pub", "signature", "last signature bit flipped", armorLic(badSig))
	invalid("license-wrong-key.oat", "license", "vendor.pub", "signature", "signed by another key but naming the vendor key ID",
		armorLic(sign1(t, map[int]any{1: -8, 3: licCT, 4: must(hexID(vendorKey))}, []byte{0xa0}, licPayload, strangerKey)))
	invalid("license-wrong-alg.oat", "license", "vendor.pub", "algorithm", "alg -7 (ES256) instead of -8 (EdDSA)",
		armorLic(sign1(t, header(-7, licCT, vendorKey), []byte{0xa0}, licPayload, vendorKey)))
	invalid("license-no-alg.oat", "license", "vendor.pub", "algorithm", "no alg in the protected header",
		armorLic(sign1(t, map[int]any{3: licCT, 4: must(hexID(vendorKey))}, []byte{0xa0}, licPayload, vendorKey)))
	invalid("license-unknown-content-type.oat", "license", "vendor.pub", "kind", "content type application/cbor",
		armorLic(sign1(t, header(-8, "application/cbor", vendorKey), []byte{0xa0}, licPayload, vendorKey)))
	invalid("license-is-request.oat", "license", "vendor.pub", "kind", "a correctly signed request offered as a license", req)
	invalid("license-relabelled.oat", "license", "vendor.pub", "kind", "a request whose armor says OAT LICENSE",
		bytes.ReplaceAll(req, []byte("OAT REQUEST"), []byte("OAT LICENSE")))
	invalid("license-payload-swapped.oat", "license", "vendor.pub", "kind", "a license payload signed by the vendor key as a release receipt",
		signing.Armor(signing.Release, must(signing.Sign(signing.Release, vendorKey, licPayload))))
	invalid("license-critical.oat", "license", "vendor.pub", "critical", "crit names an unknown header label 99",
		armorLic(sign1(t, map[int]any{1: -8, 2: []int{99}, 3: licCT, 4: must(hexID(vendorKey)), 99: 1}, []byte{0xa0}, licPayload, vendorKey)))
	invalid("license-unknown-header.oat", "license", "vendor.pub", "malformed", "an unknown protected header label 99",
		armorLic(sign1(t, map[int]any{1: -8, 3: licCT, 4: must(hexID(vendorKey)), 99: 1}, []byte{0xa0}, licPayload, vendorKey)))
	invalid("license-unprotected-header.oat", "license", "vendor.pub", "malformed", "a non-empty unprotected header",
		armorLic(sign1(t, header(-8, licCT, vendorKey), []byte{0xa1, 0x04, 0x41, 0x00}, licPayload, vendorKey)))
	dupHeader := must(hex.DecodeString("a301270127" + "03" + hex.EncodeToString(cborText(licCT))))
	invalid("license-duplicate-header.oat", "license", "vendor.pub", "malformed", "alg appears twice in the protected header",
		armorLic(sign1(t, dupHeader, []byte{0xa0}, licPayload, vendorKey)))
	dupPayload := append([]byte{0xa2, 0x02, 0x61, 'a', 0x02, 0x61, 'b'}, []byte{}...)
	invalid("license-duplicate-claim.oat", "license", "vendor.pub", "claims", "sub appears twice in the signed claims",
		armorLic(sign1(t, header(-8, licCT, vendorKey), []byte{0xa0}, dupPayload, vendorKey)))
	unknownClaim := must(hex.DecodeString(hex.EncodeToString(licPayload)))
	unknownClaim[0]++ // one more pair in the top-level map
	unknownClaim = append(unknownClaim, 0x63, 'z', 'z', 'z', 0x01)
	invalid("license-unknown-claim.oat", "license", "vendor.pub", "claims", "an extra claim zzz the format does not define, correctly signed",
		armorLic(sign1(t, header(-8, licCT, vendorKey), []byte{0xa0}, unknownClaim, vendorKey)))
	invalid("license-trailing-bytes.oat", "license", "vendor.pub", "malformed", "one zero byte after the COSE_Sign1",
		armorLic(append(bytes.Clone(licMsg.Raw()), 0x00)))
	invalid("license-truncated.oat", "license", "vendor.pub", "malformed", "the last 10 bytes cut off",
		armorLic(licMsg.Raw()[:len(licMsg.Raw())-10]))
	invalid("license-truncated-armor.oat", "license", "vendor.pub", "armor", "armor without its END line", lic[:len(lic)-30])
	invalid("license-untagged.oat", "license", "vendor.pub", "malformed", "COSE_Sign1 without tag 18", armorLic(licMsg.Raw()[1:]))
	indef := append([]byte{0xd2, 0x9f}, licMsg.Raw()[2:]...)
	indef = append(indef, 0xff)
	invalid("license-indefinite.oat", "license", "vendor.pub", "malformed", "the COSE array with indefinite length", armorLic(indef))
	invalid("license-oversize.oat", "license", "vendor.pub", "too-large", "a file over the 64 KiB cap",
		append(bytes.Clone(lic), bytes.Repeat([]byte("\n"), signing.MaxFileSize)...))
	// Another spelling of a genuine file, correctly signed (issue 12): the
	// spec is strict, so each is a different, invalid file.
	enc, _ := cbor.CoreDetEncOptions().EncMode()
	var licClaims map[any]any
	if err := cbor.Unmarshal(licPayload, &licClaims); err != nil {
		t.Fatal(err)
	}
	licClaims["Seq"] = licClaims["seq"]
	delete(licClaims, "seq")
	invalid("license-claim-case.oat", "license", "vendor.pub", "claims", `the claim "seq" spelled "Seq", payload otherwise deterministic`,
		armorLic(sign1(t, header(-8, licCT, vendorKey), []byte{0xa0}, must(enc.Marshal(licClaims)), vendorKey)))
	// The payload's first pair (iss, key 1) moved to the end.
	issLen := 1 + len(cborText("oat-desk.example"))
	unsorted := append([]byte{licPayload[0]}, licPayload[1+issLen:]...)
	unsorted = append(unsorted, licPayload[1:1+issLen]...)
	invalid("license-payload-unsorted.oat", "license", "vendor.pub", "claims", "the claims map with its keys not in deterministic order (iss last)",
		armorLic(sign1(t, header(-8, licCT, vendorKey), []byte{0xa0}, unsorted, vendorKey)))
	kid := must(hexID(vendorKey))
	reordered := append([]byte{0xa3, 0x03}, cborText(licCT)...)
	reordered = append(append(reordered, 0x01, 0x27, 0x04, 0x48), kid...)
	invalid("license-header-reordered.oat", "license", "vendor.pub", "malformed", "the protected header written as {3: ct, 1: -8, 4: kid}",
		armorLic(sign1(t, reordered, []byte{0xa0}, licPayload, vendorKey)))
	longAlg := append([]byte{0xa3, 0x01, 0x38, 0x07, 0x03}, cborText(licCT)...)
	longAlg = append(append(longAlg, 0x04, 0x48), kid...)
	invalid("license-header-long-int.oat", "license", "vendor.pub", "malformed", "alg -8 written in the two-byte form 38 07",
		armorLic(sign1(t, longAlg, []byte{0xa0}, licPayload, vendorKey)))
	badReq := must(request.Seal(vectorRequest(), installationKey))
	badReqMsg, _ := signing.Parse(badReq)
	reqRaw := bytes.Clone(badReqMsg.Raw())
	reqRaw[len(reqRaw)-5] ^= 0x40
	invalid("request-bad-signature.oat", "request", "installation.pub", "signature", "a request with a flipped signature bit",
		signing.Armor(signing.Request, reqRaw))
	relMsg, _ := signing.Parse(rel)
	invalid("release-wrong-key.oat", "release", "installation.pub", "signature", "a receipt signed by another installation",
		signing.Armor(signing.Release, must(signing.Sign(signing.Release, strangerKey, relMsg.Payload))))

	onlineReceipt := vectorReceipt()
	onlineReceipt.Online = true
	valid("release-online.oat", "release", "installation.pub", "an online release receipt (claim online: true), sent to the portal by oat deactivate --portal",
		must(release.Seal(onlineReceipt, installationKey)))
	ci := must(checkin.SealCheckIn(vectorCheckIn(), installationKey))
	valid("checkin.oat", "checkin", "installation.pub", "a check-in of activation act-0001 holding license 1, signed by the installation key", ci)
	update := vectorLicense()
	update.Sequence, update.Nonce, update.ID = 2, nil, bytes.Repeat([]byte{0xbe}, 16)
	updMsg, err := signing.Parse(must(response.Seal(update, vendorKey)))
	if err != nil {
		t.Fatal(err)
	}
	valid("ack.oat", "ack", "vendor.pub", "the desk's acknowledgement of checkin.oat, carrying license 2 (raw COSE_Sign1 in lic)",
		must(checkin.SealAck(vectorAck(updMsg.Raw()), vendorKey)))
	valid("ack-plain.oat", "ack", "vendor.pub", "an acknowledgement without a newer license", must(checkin.SealAck(vectorAck(nil), vendorKey)))
	ciMsg, _ := signing.Parse(ci)
	invalid("checkin-wrong-key.oat", "checkin", "installation.pub", "signature", "a check-in signed by another installation",
		signing.Armor(signing.CheckIn, must(signing.Sign(signing.CheckIn, strangerKey, ciMsg.Payload))))
	invalid("ack-is-checkin.oat", "ack", "vendor.pub", "kind", "a check-in's payload signed by the vendor key offered as an acknowledgement",
		signing.Armor(signing.CheckIn, must(signing.Sign(signing.CheckIn, vendorKey, ciMsg.Payload))))
	ackMsg, _ := signing.Parse(must(checkin.SealAck(vectorAck(nil), vendorKey)))
	invalid("checkin-is-ack.oat", "checkin", "installation.pub", "kind", "an acknowledgement payload signed by the installation key as an acknowledgement, offered as a check-in",
		signing.Armor(signing.Ack, must(signing.Sign(signing.Ack, installationKey, ackMsg.Payload))))

	// Vendor key rotation (issue 12): the vendor key vouches for the
	// stranger key. Verified as the first statement of a chain rooted at
	// vendor.pub.
	rot := rotation.Statement{IssuedAt: 1797000000, ID: bytes.Repeat([]byte{0xee}, 16), Add: strangerKey.Public().(ed25519.PublicKey)}
	valid("rotation.oat", "rotation", "vendor.pub", "a rotation statement: the vendor key vouches for adding the stranger key",
		must(rotation.Seal(rot, vendorKey)))
	rotMsg, _ := signing.Parse(must(rotation.Seal(rot, vendorKey)))
	invalid("rotation-self-signed.oat", "rotation", "vendor.pub", "signature", "the stranger key vouching for itself while naming the vendor key ID",
		signing.Armor(signing.Rotation, sign1(t, map[int]any{1: -8, 3: signing.Rotation.ContentType(), 4: must(hexID(vendorKey))}, []byte{0xa0}, rotMsg.Payload, strangerKey)))
	both := rot
	both.Remove = must(hexID(vendorKey))
	invalid("rotation-add-and-remove.oat", "rotation", "vendor.pub", "claims", "a statement that both adds and removes a key",
		signing.Armor(signing.Rotation, must(signing.Sign(signing.Rotation, vendorKey, must(signing.MarshalClaims(both))))))
	invalid("rotation-is-license.oat", "rotation", "vendor.pub", "kind", "a genuine license, signed by the vendor key, offered as a rotation statement", lic)

	out, _ := json.MarshalIndent(vs, "", "  ")
	write("manifest.json", append(out, '\n'))
}

func hexID(priv ed25519.PrivateKey) ([]byte, error) {
	id := keys.KeyID(priv.Public().(ed25519.PublicKey))
	return id[:], nil
}

func cborText(s string) []byte {
	enc, _ := cbor.CoreDetEncOptions().EncMode()
	b, _ := enc.Marshal(s)
	return b
}
