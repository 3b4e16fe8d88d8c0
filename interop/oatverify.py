#!/usr/bin/python3
"""A second, independent verifier of oat files, written from doc/format.md
alone (it shares no code with the Go implementation).

    oatverify.py DIR      checks every file listed in DIR/manifest.json
                          (testdata/vectors' format) and exits 1 unless each
                          verdict, and each error class, is the expected one
    oatverify.py KIND FILE KEY.pub   prints "valid" or "invalid CLASS: why"

Needs Python 3 with Debian's python3-cryptography and python3-cbor2."""
import base64, hashlib, io, json, os, sys
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

KINDS = {  # kind: (content type, armor label), format.md §1
    k: ("application/vnd.oat.%s+cbor" % k, "OAT " + ("ACK" if k == "ack" else k.upper()))
    for k in ("request", "license", "release", "checkin", "ack", "rotation")}
L = 2**252 + 27742317777372353535851937790883648493  # the Ed25519 group order


class Invalid(Exception):
    def __init__(self, cls, why):
        super().__init__("%s: %s" % (cls, why))
        self.cls = cls


def need(ok, cls, why):
    if not ok:
        raise Invalid(cls, why)


def dearmor(text):  # §7
    try:
        text = text.decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid("armor", "not UTF-8 text")
    lines = [l.strip() for l in text.lstrip("\ufeff").strip().replace("\r\n", "\n").split("\n")]
    begin, end = lines[0], lines[-1]
    need(begin.startswith("-----BEGIN ") and begin.endswith("-----"), "armor", "no BEGIN line")
    label = begin[11:-5]
    need(len(lines) > 1 and end == "-----END %s-----" % label, "armor", "END line missing or not matching")
    need(label in [l for _, l in KINDS.values()], "armor", "unknown label " + label)
    body = "".join(lines[1:-1])
    need(all(c.isascii() and (c.isalnum() or c in "+/=") for c in body), "armor", "not base64")
    try:
        raw = base64.b64decode(body, validate=True)
    except ValueError as e:
        raise Invalid("armor", "bad base64: %s" % e)
    need(base64.b64encode(raw).decode() == body, "armor", "bad base64 padding")
    return label, raw


def decode(data, cls):
    """One CBOR item, nothing after it, that is its own deterministic
    encoding (RFC 8949 §4.2.1), holding only the types oat uses."""
    f = io.BytesIO(data)
    try:
        item = cbor2.CBORDecoder(f).decode()
    except Exception as e:
        raise Invalid(cls, "not CBOR: %s" % e)
    need(f.tell() == len(data), cls, "bytes after the CBOR item")
    walk(item, 0, cls)
    need(cbor2.dumps(item) == data, cls, "not deterministically encoded")  # shortest forms, no duplicates
    return item


def walk(x, depth, cls):  # §6: no tags, floats or simple values; bounded
    need(depth <= 8, cls, "nested too deep")
    if type(x) is int:
        need(-2**63 <= x < 2**64, cls, "integer out of range")
    elif type(x) is list:
        need(len(x) <= 1024, cls, "array too long")
        for v in x:
            walk(v, depth + 1, cls)
    elif type(x) is dict:
        need(len(x) <= 256, cls, "map too large")
        enc = [cbor2.dumps(k) for k in x]
        need(all(a < b for a, b in zip(enc, enc[1:])), cls, "map keys not in bytewise order")
        for k, v in x.items():
            walk(k, depth + 1, cls)
            walk(v, depth + 1, cls)
    else:
        need(type(x) in (bytes, str, bool), cls, "unexpected CBOR item %s" % type(x).__name__)


def key_id(pub):  # §2
    der = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:8]


def load_keys(path):
    text, keys = open(path, "rb").read(), []
    for block in text.split(b"-----END PUBLIC KEY-----")[:-1]:
        keys.append(serialization.load_pem_public_key(block + b"-----END PUBLIC KEY-----\n"))
    return keys


# Claims of each kind (§6): name -> (type, required). Types: int, uint,
# tstr, bstr, bstrN (exactly N bytes), bool, cnf, machine, tstrs, ents.
MACHINE = dict(salt=("bstr16", 1), guid=("bstr16", 0), uuid=("bstr16", 0), serial=("bstr16", 0),
               board=("bstr16", 0), cpu=("bstr16", 0), macs=("macs", 0), os=("tstr", 1),
               **{"class": ("tstr", 1)}, hv=("tstr", 0), cloud=("tstr", 0), sockets=("uint", 0))
ENT = dict(code=("tstr", 1), order=("tstr", 1), fn=("tstr", 1), model=("tstr", 1), seats=("uint", 1),
           pool=("tstr", 0), exp=("int", 0), units=("uint", 0))
CLAIMS = {
    "request": {6: ("int", 1), 7: ("bstr16", 1), 8: ("cnf", 1), "order": ("tstr", 1), "fn": ("tstr", 1),
                "email": ("tstr", 1), "name": ("tstr", 0), "company": ("tstr", 0), "phone": ("tstr", 0),
                "products": ("tstrs", 0), "host": ("tstr", 1), "machine": ("machine", 1)},
    "license": {1: ("tstr", 1), 2: ("tstr", 1), 4: ("int", 0), 5: ("int", 1), 6: ("int", 1), 7: ("bstr", 1),
                8: ("cnf", 1), "seq": ("uint", 1), "nonce": ("bstr", 0), "host": ("tstr", 1),
                "machine": ("machine", 1), "products": ("ents", 1)},
    "release": {2: ("tstr", 1), 6: ("int", 1), 7: ("bstr", 1), "seq": ("uint", 1), "lic": ("bstr", 1),
                "host": ("tstr", 1), "reason": ("tstr", 0), "online": ("bool", 0)},
    "checkin": {2: ("tstr", 1), 6: ("int", 1), 7: ("bstr16", 1), "seq": ("uint", 1)},
    "ack": {1: ("tstr", 1), 2: ("tstr", 1), 6: ("int", 1), "nonce": ("bstr", 1), "state": ("tstr", 1),
            "seq": ("uint", 1), "lic": ("bstr", 0)},
    "rotation": {6: ("int", 1), 7: ("bstr16", 1), "add": ("bstr32", 0), "remove": ("bstr8", 0)},
}


def check_map(m, schema, what):
    need(type(m) is dict, "claims", what + " is not a map")
    for k in m:
        need(k in schema and type(k) is type(next(s for s in schema if s == k)), "claims", "%s: unknown claim %r" % (what, k))
    for k, (typ, required) in schema.items():
        if k not in m:
            need(not required, "claims", "%s: claim %r missing" % (what, k))
            continue
        v, ok = m[k], True
        if typ in ("int", "uint"):
            ok = type(v) is int and (typ == "int" or v >= 0)
        elif typ in ("tstr", "bool"):
            ok = type(v) is {"tstr": str, "bool": bool}[typ]
        elif typ.startswith("bstr"):
            ok = type(v) is bytes and (typ == "bstr" or len(v) == int(typ[4:]))
        elif typ == "cnf":
            ok = type(v) is dict and list(v) == [1] and cose_key(v[1]) is not None
        elif typ == "machine":
            check_map(v, MACHINE, what + " machine")
        elif typ == "macs":
            ok = type(v) is list and all(type(d) is bytes and len(d) == 16 for d in v)
        elif typ == "tstrs":
            ok = type(v) is list and all(type(s) is str for s in v)
        elif typ == "ents":
            ok = type(v) is list and all(check_map(e, ENT, what + " entitlement") is None for e in v)
        need(ok, "claims", "%s: claim %r is not %s" % (what, k, typ))


def cose_key(k):  # §6.1: {1: 1, -1: 6, -2: x}
    if type(k) is dict and sorted(k) == [-2, -1, 1] and k[1] == 1 and k[-1] == 6 \
            and type(k[-2]) is bytes and len(k[-2]) == 32:
        return Ed25519PublicKey.from_public_bytes(k[-2])
    return None


def verify(data, kind, keys):
    """Returns the claims of a valid file of kind, or raises Invalid."""
    need(len(data) <= 65536, "too-large", "over 65,536 bytes")  # §3 step 1
    label = None
    if data.lstrip(b"\xef\xbb\xbf").lstrip(b" \t\r\n").startswith(b"-----BEGIN "):
        label, data = dearmor(data)
    need(len(data) <= 32768, "too-large", "message over 32,768 bytes")
    need(data[:1] == b"\xd2", "malformed", "not tag 18")
    msg = decode(data[1:], "malformed")
    need(type(msg) is list and len(msg) == 4, "malformed", "not an array of four")
    prot, unprot, payload, sig = msg
    need(type(prot) is bytes and unprot == {}, "malformed", "bad headers")
    need(type(payload) is bytes, "malformed", "payload not a byte string")
    need(type(sig) is bytes and len(sig) == 64, "malformed", "signature not 64 bytes")
    hdr = decode(prot, "malformed")  # §4
    need(type(hdr) is dict and all(type(k) is int for k in hdr), "malformed", "header is not a map of labels")
    if 2 in hdr:
        crit = hdr[2]
        need(type(crit) is list and crit and all(type(c) is int and c in (1, 3, 4) and c in hdr for c in crit),
             "critical", "unknown critical header")
    need(all(k in (1, 2, 3, 4) for k in hdr), "malformed", "unknown header label")
    need(hdr.get(1) == -8 and type(hdr.get(1)) is int, "algorithm", "alg is not -8 (EdDSA)")
    ctype = hdr.get(3)
    need(type(ctype) is str and ctype in [c for c, _ in KINDS.values()], "kind", "unknown content type")
    need(type(hdr.get(4)) is bytes and len(hdr[4]) == 8, "malformed", "kid is not 8 bytes")
    claims = decode(payload, "claims")  # §3 step 8a
    got = next(k for k, (c, _) in KINDS.items() if c == ctype)
    need(label is None or label == KINDS[got][1], "kind", "armor label and content type differ")
    need(got == kind, "kind", "a %s, not a %s" % (got, kind))
    if kind in ("request", "rotation"):  # §3 allows any order; oat reads these claims before the signature
        check_map(claims, CLAIMS[kind], kind)
    if kind == "request":  # self-signed by its own cnf key, which must be trusted if keys are given
        self_key = cose_key(claims[8][1])
        need(not keys or key_id(self_key) in [key_id(k) for k in keys], "signature", "not this installation's request")
        keys = [self_key]
    key = next((k for k in keys if key_id(k) == hdr[4]), None)
    need(key is not None, "signature", "key ID %s is not trusted" % hdr[4].hex())
    need(int.from_bytes(sig[32:], "little") < L, "signature", "S is not below L")
    tbs = cbor2.dumps(["Signature1", prot, b"", payload])  # §5
    try:
        key.verify(sig, tbs)
    except InvalidSignature:
        raise Invalid("signature", "signature does not verify")
    check_map(claims, CLAIMS[kind], kind)  # §6
    if kind == "rotation":
        need(("add" in claims) != ("remove" in claims), "claims", "not exactly one of add and remove")
    return claims


def outcome(data, kind, keys):
    try:
        verify(data, kind, keys)
        return "valid", None, ""
    except Invalid as e:
        return "invalid", e.cls, str(e)


def main(argv):
    if len(argv) == 4:
        keys = load_keys(argv[3]) if argv[3] != "-" else []
        print(" ".join(x for x in outcome(open(argv[2], "rb").read(), argv[1], keys)[:2] if x))
        return 0
    d, bad = argv[1], 0
    entries = json.load(open(os.path.join(d, "manifest.json")))
    for e in entries:
        keys = load_keys(os.path.join(d, e["key"])) if e.get("key") else []
        got, cls, why = outcome(open(os.path.join(d, e["file"]), "rb").read(), e["kind"], keys)
        if got != e["expect"] or cls != e.get("error"):
            bad += 1
            print("DISAGREE %s: want %s %s, got %s %s (%s)" % (e["file"], e["expect"], e.get("error") or "", got, cls or "", why))
    print("oatverify: %d files, %d agree with the expected verdict and class" % (len(entries), len(entries) - bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
