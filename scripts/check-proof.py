#!/usr/bin/env python3
"""Checks weevent proofs and checkpoints without trusting the broker.

    curl -s "http://localhost:8080/weevent/rest/proof?eventId=317e7c4c-1-3" > proof.json
    scripts/check-proof.py proof.json [--vkey VKEY] [--witness VKEY ...] [--min-witnesses N]
                                      [--checkpoint NOTE_FILE] [--head HASH]
                                      [--publisher-key NAME=BASE64 ...]

A tree proof (rest/proof, the default form) is checked with the rules of docs/ledger.md
and RFC 9162: the event hash from the event's fields equals eventHash; the inclusion proof
leads from it (leaf leafIndex) to rootHash in the tree of treeSize events (RFC 9162
2.1.3.2); the checkpoint (the proof's own, or the note given with --checkpoint, for
example one your witnesses cosigned) names that tree size and root. With --vkey the
checkpoint must carry a valid signature of that key (the broker's, from `weevent key
show`); with --witness, valid cosignatures of at least --min-witnesses (default 1) of
those witness keys.

Either form: an event that names its publisher (weevent-publisher) and carries a
weevent-signature is checked with the key given as --publisher-key NAME=BASE64 (the
identity's Ed25519 public key, as you know it from the publisher, not from the broker):
the signature must verify over the group, topic, publisher, SHA-256 of the content and
the other extensions (docs/ledger.md "Signed events"); with a key given for the
publisher, an unsigned event fails.

An event whose content was pruned (retention) or erased carries "pruned" instead of its
content: the fields it no longer has cannot be hashed, so its eventHash is taken as the
leaf and checked through the proof like any other (format 2 only); its signature, gone
with its extensions, is not checked.

A chain proof (rest/proof?form=chain) is checked as before: event hash, Merkle path to
the block's merkleRoot, block hash, each following header linked by previousHash up to
head.hash, and with --head that head.hash is the hash you trust.

    scripts/check-proof.py consistency CONSISTENCY_JSON [--old NOTE_FILE] [--new NOTE_FILE]
                                       [--vkey VKEY]

Checks a rest/consistency answer (RFC 9162 2.1.4.2): the tree of `from` events (fromRoot)
is a prefix of the tree of `to` events (toRoot). With --old/--new, the checkpoints you hold
must name those sizes and roots (and, with --vkey, carry the key's valid signature).

    scripts/check-proof.py note NOTE_FILE VKEY [VKEY ...]

Checks a signed note (C2SP signed-note: a checkpoint, with its witnesses' cosignatures)
against the verifier keys given (`name+keyid+base64(type || key)`, type 0x01 Ed25519 or
0x04 tlog-cosignature/v1): every signature line of a given key must verify, and at least
one must.

Prints what it checked; exit 0 when all holds, 1 otherwise, 2 for bad usage. Python 3's
standard library, and `cryptography` (Debian: python3-cryptography) for signatures.
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


def event_hash(ev, fmt=1):
    """docs/ledger.md: format 1 hashes the content, format 2 its SHA-256."""
    topic = ev["topic"].encode()
    content = base64.b64decode(ev["content"], validate=True)
    out = [b"\x00", u32(len(topic)), topic, u64(ev["sequence"]), i64(ev["timestamp"])]
    if fmt == 1:
        out += [u32(len(content)), content]
    elif fmt == 2:
        out.append(sha256(content))
    else:
        raise ValueError("unknown ledger format %r" % fmt)
    ext = ev.get("extensions") or {}
    out.append(u32(len(ext)))
    for key in sorted(ext, key=lambda k: k.encode()):
        k, v = key.encode(), ext[key].encode()
        out += [u32(len(k)), k, u32(len(v)), v]
    return sha256(*out)


def signed_message(group, ev, publisher):
    """docs/ledger.md "Signed events": what a publisher signs."""
    def string(text):
        b = text.encode()
        return u32(len(b)) + b
    content = base64.b64decode(ev["content"], validate=True)
    ext = {k: v for k, v in (ev.get("extensions") or {}).items() if k not in ("weevent-signature", "weevent-publisher")}
    out = [b"weevent event signature v1\x00", string(group), string(ev["topic"]), string(publisher), sha256(content), u32(len(ext))]
    for key in sorted(ext, key=lambda k: k.encode()):
        out += [string(key), string(ext[key])]
    return b"".join(out)


def leaf_of(proof):
    """The event's leaf hash and what to say about it: from the event's fields, or, for an
    event whose content was pruned, its eventHash (problems when it is not a format 2 event)."""
    ev, fmt = proof["event"], proof.get("format", 1)
    pruned = ev.get("pruned")
    if pruned is not None:
        problems = [] if fmt == 2 else ["a format %d event cannot be pruned" % fmt]
        leaf = bytes.fromhex(proof["eventHash"])
        if len(leaf) != 32:
            problems.append("eventHash is not 32 bytes")
        return leaf, problems, ["content %s at %d: the leaf is eventHash, checked through the proof"
                                % (pruned.get("reason", "pruned"), pruned.get("time", 0))]
    leaf = event_hash(ev, fmt)
    return leaf, ([] if leaf.hex() == proof["eventHash"] else ["event fields do not hash to eventHash"]), []


def check_publisher(proof, publisher_keys):
    """Problems and lines about the event's publisher and its signature."""
    ev = proof["event"]
    if ev.get("pruned") is not None:
        publisher = (ev.get("extensions") or {}).get("weevent-publisher")
        return [], ["published by %s; its signature went with its content" % publisher if publisher else "no publisher named"]
    ext = ev.get("extensions") or {}
    publisher, signature = ext.get("weevent-publisher"), ext.get("weevent-signature")
    if publisher is None:
        if signature:
            return ["the event carries weevent-signature but names no publisher"], []
        return [], ["no publisher named (an anonymous publish)"]
    key = publisher_keys.get(publisher)
    if key is None:
        if signature:
            return [], ["published by %s, signed; give --publisher-key %s=KEY to check the signature" % (publisher, publisher)]
        return [], ["published by %s" % publisher]
    if not signature:
        return ["the event of %s is not signed (weevent-signature)" % publisher], []
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(base64.b64decode(signature, validate=True),
                                                       signed_message(proof["groupId"], ev, publisher))
    except (InvalidSignature, ValueError):
        return ["the signature of %s does not verify under the key given" % publisher], []
    return [], ["published and signed by %s (signature verified)" % publisher]


def publisher_key_map(values):
    keys = {}
    for value in values:
        name, _, text = value.partition("=")
        key = base64.b64decode(text, validate=True) if text else b""
        if not name or len(key) != 32:
            raise SystemExit(print("--publisher-key takes NAME=BASE64 of a 32-byte Ed25519 public key, got %r" % value,
                                   file=sys.stderr) or 2)
        keys[name] = key
    return keys


def block_hash(h, previous):
    """Format 2 headers also commit to the group tree after the block (treeSize, treeRoot)."""
    tree = [u64(h["treeSize"]), bytes.fromhex(h["treeRoot"])] if "treeRoot" in h else []
    return sha256(b"\x02", u64(h["height"]), previous, bytes.fromhex(h["merkleRoot"]), i64(h["timestamp"]), u32(h["eventCount"]), *tree)


def check(proof, trusted_head=None):
    leaf, problems, said = leaf_of(proof)
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
    return problems, said, current.hex(), height


def node(left, right):
    return sha256(b"\x01", left, right)


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 2.1.3.2, step by step."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(size1, size2, proof, root1, root2):
    """RFC 9162 2.1.4.2, step by step (from the empty tree every tree follows)."""
    if size1 > size2:
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0


def parse_checkpoint(note):
    """(origin, size, root) of a checkpoint note (tlog-checkpoint), signed or not."""
    text = note[:note.rindex("\n\n") + 1] if "\n\n" in note else note
    lines = text.split("\n")
    if len(lines) < 4 or not lines[0] or not lines[1].isdigit() or (lines[1].startswith("0") and lines[1] != "0"):
        raise ValueError("not a checkpoint: %r" % text[:200])
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise ValueError("checkpoint root is not 32 bytes")
    return lines[0], int(lines[1]), root


def check_signed(note, vkeys, witnesses, min_witnesses, what):
    """Problems of a checkpoint's signatures: one valid of `vkeys` (when given), and valid
    cosignatures of at least `min_witnesses` of `witnesses`."""
    problems, lines = [], []
    if vkeys:
        p, ok = check_note(note, vkeys)
        problems += ["%s: %s" % (what, x) for x in p]
        if ok:
            lines.append("%s signed by %s" % (what, ", ".join(ok)))
    if witnesses:
        p, ok = check_note(note, witnesses)
        names = sorted(set(ok))
        if len(names) < min_witnesses:
            problems.append("%s: %d valid cosignatures of the witnesses given, %d needed%s"
                            % (what, len(names), min_witnesses, "".join("; " + x for x in p)))
        else:
            lines.append("%s cosigned by %s" % (what, ", ".join(names)))
    return problems, lines


def check_tree(proof, vkeys, witnesses, min_witnesses, trusted_note):
    leaf, problems, said = leaf_of(proof)
    size, index = proof["treeSize"], proof["leafIndex"]
    root = bytes.fromhex(proof["rootHash"])
    steps = [bytes.fromhex(h) for h in proof["inclusionProof"]]
    if not verify_inclusion(leaf, index, size, steps, root):
        problems.append("the inclusion proof does not lead from leaf %d to rootHash in a tree of %d" % (index, size))
    notes = []
    if proof.get("checkpoint"):
        notes.append(("the proof's checkpoint", proof["checkpoint"]))
    if trusted_note is not None:
        notes.append(("the checkpoint given", trusted_note))
    if (vkeys or witnesses) and not notes:
        problems.append("no checkpoint of tree size %d to check signatures on; ask rest/proof with treeSize= of a signed checkpoint" % size)
    for what, note in notes:
        _, csize, croot = parse_checkpoint(note)
        if csize != size or croot != root:
            problems.append("%s is of tree size %d root %s, the proof of tree size %d root %s"
                            % (what, csize, croot.hex(), size, root.hex()))
        p, lines = check_signed(note, vkeys, witnesses, min_witnesses, what)
        problems += p
        said += lines
    return problems, said


def check_consistency(answer, old, new, vkeys):
    problems, said = [], []
    size1, size2 = answer["from"], answer["to"]
    root1, root2 = bytes.fromhex(answer["fromRoot"]), bytes.fromhex(answer["toRoot"])
    if not verify_consistency(size1, size2, [bytes.fromhex(h) for h in answer["proof"]], root1, root2):
        problems.append("the proof does not show the tree of %d events is a prefix of the tree of %d" % (size1, size2))
    for what, note, size, root in (("the old checkpoint", old, size1, root1), ("the new checkpoint", new, size2, root2)):
        if note is None:
            continue
        _, csize, croot = parse_checkpoint(note)
        if csize != size or croot != root:
            problems.append("%s is of tree size %d root %s, the proof's is %d root %s" % (what, csize, croot.hex(), size, root.hex()))
        p, lines = check_signed(note, vkeys, [], 0, what)
        problems += p
        said += lines
    return problems, said


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


def take(args, flag, many=False):
    """Removes `flag VALUE` pairs from args; their values (a list when `many`)."""
    values = []
    while flag in args:
        i = args.index(flag)
        if i + 1 >= len(args):
            raise SystemExit(print(__doc__.strip(), file=sys.stderr) or 2)
        values.append(args[i + 1])
        del args[i:i + 2]
    return values if many else (values[-1] if values else None)


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def load_json(path):
    with (sys.stdin if path == "-" else open(path, "rb")) as f:
        return json.load(f)


def report(problems, said, ok_line):
    for p in problems:
        print("FAIL: " + p)
    if problems:
        return 1
    print(ok_line)
    for line in said:
        print("  " + line)
    return 0


def main_consistency(args):
    old, new, vkeys = take(args, "--old"), take(args, "--new"), take(args, "--vkey", many=True)
    if len(args) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        answer = load_json(args[0])
        problems, said = check_consistency(answer, old and read_text(old), new and read_text(new), vkeys)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        print("FAIL: malformed input: %r" % (e,))
        return 1
    return report(problems, said, "OK: the tree of %d events is a prefix of the tree of %d" % (answer["from"], answer["to"]))


def main(argv):
    args = argv[1:]
    if args[:1] == ["note"]:
        return main_note(args[1:])
    if args[:1] == ["consistency"]:
        return main_consistency(args[1:])
    trusted = take(args, "--head")
    vkeys, witnesses = take(args, "--vkey", many=True), take(args, "--witness", many=True)
    minimum = take(args, "--min-witnesses")
    checkpoint = take(args, "--checkpoint")
    publisher_keys = publisher_key_map(take(args, "--publisher-key", many=True))
    if len(args) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        proof = load_json(args[0])
        if "inclusionProof" in proof:
            min_witnesses = int(minimum) if minimum is not None else (1 if witnesses else 0)
            problems, said = check_tree(proof, vkeys, witnesses, min_witnesses, checkpoint and read_text(checkpoint))
            p, lines = check_publisher(proof, publisher_keys)
            return report(problems + p, said + lines, "OK: event %s is leaf %d of the tree of %d events with root %s"
                          % (proof.get("eventId", "?"), proof["leafIndex"], proof["treeSize"], proof["rootHash"]))
        problems, said, head, height = check(proof, trusted)
        p, lines = check_publisher(proof, publisher_keys)
    except (ValueError, KeyError, TypeError, IndexError) as e:
        print("FAIL: malformed proof: %r" % (e,))
        return 1
    return report(problems + p, said + lines, "OK: event %s is in block %d, which is linked to head %d %s"
                  % (proof.get("eventId", "?"), proof["block"]["height"], height, head))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
