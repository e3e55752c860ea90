#!/usr/bin/env python3
"""Checks a weevent proof (the JSON of rest/proof) without trusting the broker.

    curl -s "http://localhost:8080/weevent/rest/proof?eventId=317e7c4c-1-3" > proof.json
    scripts/check-proof.py proof.json [--head HASH]

Recomputes, with the rules of docs/ledger.md:
  1. the event hash from the event's fields, equal to eventHash;
  2. the Merkle root from eventHash and merklePath, equal to the block's merkleRoot;
  3. the block hash from the header fields, equal to the block's hash;
  4. each following header's hash, linked through previousHash, up to head.hash;
and, with --head, that head.hash is the hash you trust (from admin/blockchaininfo,
kept elsewhere). Prints what it checked; exit 0 when all holds, 1 otherwise.
Python 3 standard library only (hashlib, json, base64).

    scripts/check-proof.py note NOTE_FILE VKEY [VKEY ...]

Checks a signed note (C2SP signed-note: a checkpoint, with its witnesses' cosignatures)
against the verifier keys given (`name+keyid+base64(type || key)`, type 0x01 Ed25519 or
0x04 tlog-cosignature/v1): every signature line of a given key must verify, and at least
one must. Needs Python's `cryptography` (Debian: python3-cryptography) for Ed25519.
"""
import base64
import hashlib
import json
import struct
import sys


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def u32(n):
    return struct.pack(">I", n)


def u64(n):
    return struct.pack(">Q", n)


def i64(n):
    return struct.pack(">q", n)


def event_hash(ev):
    topic = ev["topic"].encode()
    content = base64.b64decode(ev["content"], validate=True)
    out = [b"\x00", u32(len(topic)), topic, u64(ev["sequence"]), i64(ev["timestamp"]), u32(len(content)), content]
    ext = ev.get("extensions") or {}
    out.append(u32(len(ext)))
    for key in sorted(ext, key=lambda k: k.encode()):
        k, v = key.encode(), ext[key].encode()
        out += [u32(len(k)), k, u32(len(v)), v]
    return sha256(*out)


def block_hash(h, previous):
    return sha256(b"\x02", u64(h["height"]), previous, bytes.fromhex(h["merkleRoot"]), i64(h["timestamp"]), u32(h["eventCount"]))


def check(proof, trusted_head=None):
    problems = []
    leaf = event_hash(proof["event"])
    if leaf.hex() != proof["eventHash"]:
        problems.append("event fields do not hash to eventHash")
    node = leaf
    for step in proof["merklePath"]:
        sibling = bytes.fromhex(step["sibling"])
        if step["side"] == "left":
            node = sha256(b"\x01", sibling, node)
        elif step["side"] == "right":
            node = sha256(b"\x01", node, sibling)
        else:
            problems.append("merklePath side must be left or right")
    block = proof["block"]
    if node.hex() != block["merkleRoot"]:
        problems.append("Merkle path does not lead to the block's merkleRoot")
    current = block_hash(block, bytes.fromhex(block["previousHash"]))
    if current.hex() != block["hash"]:
        problems.append("block %d header does not hash to its hash" % block["height"])
    height = block["height"]
    for link in proof["links"]:
        if link["height"] != height + 1:
            problems.append("link after block %d has height %d" % (height, link["height"]))
        if link["previousHash"] != current.hex():
            problems.append("block %d does not link to block %d" % (link["height"], height))
        current = block_hash(link, current)
        if current.hex() != link["hash"]:
            problems.append("block %d header does not hash to its hash" % link["height"])
        height = link["height"]
    head = proof["head"]
    if head["height"] != height or head["hash"] != current.hex():
        problems.append("the chain does not end at head %s" % head["hash"])
    if trusted_head is not None and trusted_head.lower() != head["hash"]:
        problems.append("head is not the trusted head %s" % trusted_head)
    return problems, current.hex(), height


def parse_vkey(text):
    name, key_id, material = text.split("+", 2)
    raw = base64.b64decode(material, validate=True)
    if len(raw) != 33 or raw[0] not in (0x01, 0x04) or len(key_id) != 8:
        raise ValueError("unsupported verifier key %s" % text)
    if sha256(name.encode(), b"\n", raw[:1], raw[1:])[:4] != bytes.fromhex(key_id):
        raise ValueError("key id of %s does not match its key" % name)
    return name, bytes.fromhex(key_id), raw[0], raw[1:]


def check_note(note, vkeys):
    """Problems of a signed note against verifier keys, and the names that verified."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    if not note.endswith("\n") or "\n\n" not in note:
        return ["not a signed note (no blank line before the signatures)"], []
    at = note.rindex("\n\n")
    text, lines = note[:at + 1], note[at + 2:].split("\n")[:-1]
    problems, verified = [], []
    keys = [parse_vkey(k) for k in vkeys]
    for line in lines:
        if not line.startswith("\u2014 "):
            return ["malformed signature line %r" % line], []
        name, sig = line[2:].split(" ")
        sig = base64.b64decode(sig, validate=True)
        for kname, kid, ktype, key in keys:
            if kname != name or kid != sig[:4]:
                continue
            message, signature = text.encode(), sig[4:]
            if ktype == 0x04:
                if len(signature) != 72:
                    problems.append("cosignature of %s has %d bytes" % (name, len(signature)))
                    continue
                t = struct.unpack(">Q", signature[:8])[0]
                message = b"cosignature/v1\ntime %d\n" % t + message
                signature = signature[8:]
            try:
                Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
                verified.append(name)
            except InvalidSignature:
                problems.append("the signature of %s does not verify" % name)
    if not verified and not problems:
        problems.append("no signature of a given key")
    return problems, verified


def main_note(args):
    if len(args) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            note = f.read()
        problems, verified = check_note(note, args[1:])
    except (ValueError, IndexError) as e:
        print("FAIL: %s" % (e,))
        return 1
    for p in problems:
        print("FAIL: " + p)
    if problems:
        return 1
    print("OK: signed by %s" % ", ".join(verified))
    return 0


def main(argv):
    args = argv[1:]
    if args[:1] == ["note"]:
        return main_note(args[1:])
    trusted = None
    if "--head" in args:
        i = args.index("--head")
        trusted = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        with (sys.stdin if args[0] == "-" else open(args[0], "rb")) as f:
            proof = json.load(f)
        problems, head, height = check(proof, trusted)
    except (ValueError, KeyError, TypeError) as e:
        print("FAIL: malformed proof: %r" % (e,))
        return 1
    if problems:
        for p in problems:
            print("FAIL: " + p)
        return 1
    print("OK: event %s is in block %d, which is linked to head %d %s"
          % (proof.get("eventId", "?"), proof["block"]["height"], height, head))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
