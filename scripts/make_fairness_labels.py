#!/usr/bin/env python3
"""Builds the labels file for the capture-condition demonstration of
`lineup eval fairness` (docs/FAIRNESS.md) from the shared research sets.

    scripts/make_fairness_labels.py ../shared/data /tmp/fairness-demo
    build/lineup eval fairness --labels /tmp/fairness-demo/labels.csv --root / --out /tmp/fairness-demo/report

Writes OUT/labels.csv with columns path,identity,dataset,capture_condition:
  dataset            orl (grayscale 92x112 lab faces), yale (grayscale lab faces
                     under lighting / expression / glasses conditions),
                     celebrity (five_celebrity_faces web photos, train + test)
  capture_condition  Yale only, from the file name: lighting (centerlight,
                     leftlight, rightlight), glasses, expression (happy, sad,
                     sleepy, surprised, wink), neutral (normal, noglasses);
                     empty (no label) for the other sets
Identities are prefixed with the set ("orl/s1"), so no two sets share one.

OpenCV cannot read Yale's GIF files, so they are decoded here (a small GIF
decoder, standard library only) and written as PGM to OUT/yale_pgm/. Nothing
is written into the repository; the images stay outside it. Paths in the CSV
are absolute.
"""
import os
import sys

YALE_CONDITIONS = {
    "centerlight": "lighting", "leftlight": "lighting", "rightlight": "lighting",
    "glasses": "glasses",
    "happy": "expression", "sad": "expression", "sleepy": "expression",
    "surprised": "expression", "wink": "expression",
    "normal": "neutral", "noglasses": "neutral",
}


def lzw_decode(data, min_code_size, pixel_count):
    """GIF-flavoured LZW: variable code width up to 12 bits, LSB first."""
    clear, end = 1 << min_code_size, (1 << min_code_size) + 1
    out = bytearray()
    width = min_code_size + 1
    table = [bytes([i]) for i in range(clear)] + [b"", b""]
    prev = None
    bits = value = 0
    for byte in data:
        value |= byte << bits
        bits += 8
        while bits >= width:
            code = value & ((1 << width) - 1)
            value >>= width
            bits -= width
            if code == clear:
                table = table[:end + 1]
                width = min_code_size + 1
                prev = None
                continue
            if code == end:
                return bytes(out[:pixel_count])
            if code < len(table):
                entry = table[code]
                if prev is not None:
                    table.append(prev + entry[:1])
            elif prev is not None and code == len(table):
                entry = prev + prev[:1]
                table.append(entry)
            else:
                raise ValueError("bad LZW code")
            out += entry
            prev = entry
            if len(table) == (1 << width) and width < 12:
                width += 1
    return bytes(out[:pixel_count])


def decode_gif_gray(path):
    """First frame of a GIF as (width, height, 8-bit luminance bytes)."""
    with open(path, "rb") as f:
        b = f.read()
    if b[:3] != b"GIF":
        raise ValueError(path + ": not a GIF")
    flags = b[10]
    pos = 13
    palette = None
    if flags & 0x80:
        size = 3 * (2 << (flags & 7))
        palette = b[pos:pos + size]
        pos += size
    while pos < len(b):
        kind = b[pos]
        if kind == 0x21:  # extension: skip its sub-blocks
            pos += 2
            while b[pos]:
                pos += b[pos] + 1
            pos += 1
        elif kind == 0x2C:  # image descriptor
            w = b[pos + 5] | b[pos + 6] << 8
            h = b[pos + 7] | b[pos + 8] << 8
            iflags = b[pos + 9]
            pos += 10
            if iflags & 0x80:
                size = 3 * (2 << (iflags & 7))
                palette = b[pos:pos + size]
                pos += size
            min_code = b[pos]
            pos += 1
            data = bytearray()
            while b[pos]:
                data += b[pos + 1:pos + 1 + b[pos]]
                pos += b[pos] + 1
            indices = lzw_decode(data, min_code, w * h)
            if iflags & 0x40:  # interlaced: rows 0,8,.. then 4,12,.. then 2,6,.. then 1,3,..
                order = [r for start, step in ((0, 8), (4, 8), (2, 4), (1, 2)) for r in range(start, h, step)]
                rows = [indices[i * w:(i + 1) * w] for i in range(h)]
                fixed = [b""] * h
                for i, r in enumerate(order):
                    fixed[r] = rows[i]
                indices = b"".join(fixed)
            gray = bytes(
                (299 * palette[3 * i] + 587 * palette[3 * i + 1] + 114 * palette[3 * i + 2]) // 1000
                for i in indices)
            return w, h, gray
        else:
            break
    raise ValueError(path + ": no image in the GIF")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data, out = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    rows = []
    orl = os.path.join(data, "orl_att_faces", "orl_faces")
    for person in sorted(os.listdir(orl)):
        folder = os.path.join(orl, person)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if name.endswith(".pgm"):
                rows.append((os.path.join(folder, name), "orl/" + person, "orl", ""))
    yale = os.path.join(data, "yalefaces", "yalefaces")
    pgm_dir = os.path.join(out, "yale_pgm")
    os.makedirs(pgm_dir, exist_ok=True)
    for name in sorted(os.listdir(yale)):
        subject, _, condition = name.partition(".")
        if condition not in YALE_CONDITIONS:
            continue
        w, h, gray = decode_gif_gray(os.path.join(yale, name))
        target = os.path.join(pgm_dir, name + ".pgm")
        with open(target, "wb") as f:
            f.write(b"P5\n%d %d\n255\n" % (w, h) + gray)
        rows.append((target, "yale/" + subject, "yale", YALE_CONDITIONS[condition]))
    celeb = os.path.join(data, "five_celebrity_faces")
    for split in ("train", "test"):
        for person in sorted(os.listdir(os.path.join(celeb, split))):
            folder = os.path.join(celeb, split, person)
            for name in sorted(os.listdir(folder)):
                if name.lower().endswith((".jpg", ".jpeg", ".png")):
                    rows.append((os.path.join(folder, name), "celebrity/" + person, "celebrity", ""))

    def cell(s):
        return '"' + s.replace('"', '""') + '"' if any(c in s for c in ',"') else s

    with open(os.path.join(out, "labels.csv"), "w") as f:
        f.write("path,identity,dataset,capture_condition\n")
        for row in rows:
            f.write(",".join(cell(x) for x in row) + "\n")
    print("wrote %s (%d images) and %d Yale PGMs in %s" % (os.path.join(out, "labels.csv"), len(rows),
                                                            sum(r[2] == "yale" for r in rows), pgm_dir))


if __name__ == "__main__":
    main()
