"""Strings over the whole of Unicode, reproducibly: what a Gerrit event's free-text fields may hold.

No hypothesis in the venv, so a seeded generator: every string mixes pieces that broke or could
break a parser on the way (YAML, Jinja, msgpack, JSON) with code points drawn from all of
U+0000..U+10FFFF, lone surrogates included.
"""

import json
import random
import re

PIECES = (
    "\x00", "\x7f", *map(chr, range(0x80, 0xA0)), "\ufffe", "\uffff", "\u2028", "\u2029", "\ufeff",
    "\ud800", "\udbff", "\udc00", "\udfff", "\udc80", "\U0001F600", "\U0010FFFF", "\U000E0001",
    "{{ 7*7 }}", "{%", "%}", "{#", "#}", ": ", "- ", "? ", "&a", "*a", "!!python/object/apply:os.system ['id']",
    "!!binary", "'", '"', "\\", "\\u0000", "\t", "\r\n", "\n", "\r", "---", "...", "%TAG", "@", "`", "|", ">",
    "[", "]", "{", "}", ",", "#", "~", "null", "yes", "0x1F", "\x1b[31m", "$(id)", "`id`", ";", "../",
)


SURROGATE = re.compile("[\ud800-\udfff]")


def hostile_strings(seed, count, surrogates=True):
    """``count`` strings; together they hold every piece of PIECES (but lone surrogates, unless ``surrogates``)."""
    rng = random.Random(seed)
    pieces = [piece for piece in PIECES if surrogates or not SURROGATE.search(piece)]
    rng.shuffle(pieces)
    strings = []
    for index in range(count):
        own = pieces[index::count] + rng.sample(pieces, 3)
        own += [_code_point(rng, surrogates) for _ in range(rng.randrange(1, 6))]
        rng.shuffle(own)
        strings.append(_no_surrogate_pairs("".join(own)))
    return strings


def _code_point(rng, surrogates):
    while True:
        char = chr(rng.randrange(0x110000))
        if surrogates or not SURROGATE.match(char):
            return char


def _no_surrogate_pairs(text):
    """Keep lone surrogates lone: JSON reads the escapes of a high then a low one as one astral character."""
    return re.sub("([\ud800-\udbff])(?=[\udc00-\udfff])", "\\1.", text)


def hook_body(payload, raw_utf8):
    """The JSON a webhook POSTs: all ASCII with \\u escapes, or UTF-8 with only lone surrogates escaped."""
    if not raw_utf8:
        return json.dumps(payload).encode("ascii")
    text = json.dumps(payload, ensure_ascii=False)
    return SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


# Fields normalise() validates (names, numbers, SHAs, refs, labels): hostile text there is rejected.
VALIDATED = frozenset({"type", "project", "branch", "number", "id", "revision", "ref", "newRev", "oldRev", "refName",
                       "value"})


def with_hostile_strings(payload, strings, keep=VALIDATED):
    """``payload`` with every string outside ``keep`` (at any depth, list items too) replaced, in turn, by
    ``strings``; plus one extra field whose key and value are hostile."""
    supply = iter(strings * (1 + _count_strings(payload) // max(1, len(strings))))

    def fill(node, key=None):
        if isinstance(node, dict):
            return {name: fill(value, name) for name, value in node.items()}
        if isinstance(node, list):
            return [fill(item, key) for item in node]
        return next(supply) if isinstance(node, str) and key not in keep else node

    filled = fill(payload)
    filled[strings[0]] = strings[-1]
    return filled


def _count_strings(node):
    if isinstance(node, dict):
        return sum(_count_strings(value) for value in node.values())
    if isinstance(node, list):
        return sum(_count_strings(item) for item in node)
    return int(isinstance(node, str))
