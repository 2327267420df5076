"""Published IPFS test vectors: IPIP-0499 (kubo's cid_profiles_test.go) and the UnixFS spec.

File contents come from kubo's deterministic generator (ChaCha20 keystream under
sha256(seed)); directory fixtures name their files from the same stream. A failure here
means our CIDs diverge from kubo, boxo and helia.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from deai.store import PROFILES, RAW, _dagpb, _unixfs, cid_for_block, cid_of_bytes
from deai.store._hamt import Entry
from deai.store._importer import FileBuilder, Imported, discard, import_bytes, make_directory
from deai.store._profiles import Profile
from deai.store._unixfs import NodeType, UnixFSData

V1 = PROFILES["unixfs-v1-2025"]
V0 = PROFILES["unixfs-v0-2015"]
KUBO = PROFILES["kubo-v1"]
MiB = 1024 * 1024
KiB256 = 256 * 1024


@pytest.mark.parametrize(
    ("profile", "data", "cid"),
    [
        ("unixfs-v1-2025", b"hello world", "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"),
        ("unixfs-v0-2015", b"hello world", "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"),
        ("kubo-v1", b"hello world\n", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"),
        ("unixfs-v1-2025", b"hello world\n", "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"),
        ("unixfs-v1-2025", b"", "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"),
        ("unixfs-v0-2015", b"", "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
        ("kubo-v1", b"hello application/vnd.ipld.car\n",
         "bafkreifkam6ns4aoolg3wedr4uzrs3kvq66p4pecirz6y2vlrngla62mxm"),
    ],
)
def test_small_files(profile: str, data: bytes, cid: str) -> None:
    assert cid_of_bytes(data, profile=profile) == cid


def test_ipip499_chunk_boundaries(det_bytes: Callable[[int, str], bytes]) -> None:
    v1 = det_bytes(MiB + 1, "chunk-v1-seed")
    assert cid_of_bytes(v1[:MiB]) == "bafkreiacndfy443ter6qr2tmbbdhadvxxheowwf75s6zehscklu6ezxmta"
    assert cid_of_bytes(v1) == "bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64"
    v0 = det_bytes(KiB256 + 1, "chunk-v0-seed")
    assert cid_of_bytes(v0[:KiB256], profile=V0) == "QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE"
    assert cid_of_bytes(v0, profile=V0) == "QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ"


def test_ipip499_v0_max_links_boundary(det_bytes: Callable[[int, str], bytes]) -> None:
    data = det_bytes(174 * KiB256 + 1, "v0-seed")
    assert cid_of_bytes(data[:-1], profile=V0) == "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2"
    assert cid_of_bytes(data, profile=V0) == "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW"


def test_ipip499_v1_max_links_boundary_1gib(det_bytes: Callable[[int, str], bytes]) -> None:
    """1024 × 1 MiB (one level) and one byte more (two levels), streamed chunk by chunk."""
    import hashlib

    from Crypto.Cipher import ChaCha20

    at = FileBuilder(V1, discard)
    over = FileBuilder(V1, discard)
    cipher = ChaCha20.new(key=hashlib.sha256(b"v1-2025-seed").digest(), nonce=bytes(12))
    zeros = bytes(MiB)
    for _ in range(1024):
        chunk = cipher.encrypt(zeros)
        at.add_chunk(chunk)
        over.add_chunk(chunk)
    over.write(cipher.encrypt(b"\0"))
    assert at.finish().cid.encode() == "bafybeihmf37wcuvtx4hpu7he5zl5qaf2ineo2lqlfrapokkm5zzw7zyhvm"
    assert over.finish().cid.encode() == "bafybeibdsi225ugbkmpbdohnxioyab6jsqrmkts3twhpvfnzp77xtzpyhe"


@pytest.mark.parametrize(
    ("profile", "count", "length", "last", "seed", "cid", "node_type"),
    [
        ("unixfs-v1-2025", 4766, 11, 21, "hamt-unixfs-v1-2025",
         "bafybeic3h7rwruealwxkacabdy45jivq2crwz6bufb5ljwupn36gicplx4", NodeType.DIRECTORY),
        ("unixfs-v1-2025", 4766, 11, 22, "hamt-unixfs-v1-2025",
         "bafybeiegvuterwurhdtkikfhbxcldohmxp566vpjdofhzmnhv6o4freidu", NodeType.HAMT_SHARD),
        ("unixfs-v0-2015", 4096, 30, 30, "hamt-unixfs-v0-2015",
         "QmX5GtRk3TSSEHtdrykgqm4eqMEn3n2XhfkFAis5fjyZmN", NodeType.DIRECTORY),
        ("unixfs-v0-2015", 4033, 31, 31, "hamt-unixfs-v0-2015",
         "QmeMiJzmhpJAUgynAcxTQYek5PPKgdv3qEvFsdV3XpVnvP", NodeType.HAMT_SHARD),
    ],
)
def test_ipip499_hamt_threshold(
    det_names: Callable[[int, int, int, str], list[str]],
    profile: str, count: int, length: int, last: int, seed: str, cid: str, node_type: NodeType,
) -> None:
    prof = PROFILES[profile]
    leaf = import_bytes(b"x", prof, discard)
    entries = [Entry(name, leaf.cid, leaf.tsize) for name in det_names(count, length, last, seed)]
    blocks: dict[str, bytes] = {}
    result = make_directory(entries, prof, lambda c, b: blocks.__setitem__(c.encode(), bytes(b)))
    assert result.cid.encode() == cid
    root = _unixfs.decode(_dagpb.decode(blocks[cid]).data or b"")
    assert root.type == node_type


def test_empty_directories() -> None:
    assert make_directory([], V1, discard).cid.encode() == "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
    assert make_directory([], V0, discard).cid.encode() == "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"


def _file(data: bytes) -> Imported:
    return import_bytes(data, KUBO, discard)


def test_unixfs_spec_multiblock_file_and_directories() -> None:
    """The UnixFS spec's gateway-conformance fixtures (dir-with-files.car, dag-pb.car, …)."""
    leaves = [
        ("bafkreie5noke3mb7hqxukzcy73nl23k6lxszxi5w3dtmuwz62wnvkpsscm", 256),
        ("bafkreih4ephajybraj6wnxsbwjwa77fukurtpl7oj7t7pfq545duhot7cq", 256),
        ("bafkreigu7buvm3cfunb35766dn7tmqyh2um62zcio63en2btvxuybgcpue", 256),
        ("bafkreicll3huefkc3qnrzeony7zcfo7cr3nbx64hnxrqzsixpceg332fhe", 256),
        ("bafkreifst3pqztuvj57lycamoi7z34b4emf7gawxs74nwrc2c7jncmpaqm", 2),
    ]
    # the multiblock.txt root: 256-byte chunks under one balanced node
    builder = FileBuilder(Profile("spec-256", chunk_size=256, max_links=174), discard)
    from deai.store import parse_cid
    from deai.store._importer import _Pending

    root = builder._reduce([_Pending(parse_cid(c), size, size) for c, size in leaves])
    assert root.cid.encode() == "bafybeigcisqd7m5nf3qmuvjdbakl5bdnh4ocrmacaqkpuh77qjvggmt2sa"

    hello = _file(b"hello world\n")
    ascii_ = _file(b"hello application/vnd.ipld.car\n")
    multiblock = Entry("multiblock.txt", root.cid, root.tsize)
    dir_with_files = make_directory(
        [Entry("ascii-copy.txt", ascii_.cid, ascii_.tsize), Entry("ascii.txt", ascii_.cid, ascii_.tsize),
         Entry("hello.txt", hello.cid, hello.tsize), multiblock],
        KUBO, discard,
    )
    assert dir_with_files.cid.encode() == "bafybeihchr7vmgjaasntayyatmp5sv6xza57iy2h4xj7g46bpjij6yhrmy"

    subdir = make_directory(
        [Entry("hello.txt", hello.cid, hello.tsize), Entry("ascii.txt", ascii_.cid, ascii_.tsize)], KUBO, discard
    )
    assert subdir.cid.encode() == "bafybeiggghzz6dlue3m6nb2dttnbrygxh3lrjl5764f2m4gq7dgzdt55o4"
    top = make_directory([Entry("subdir", subdir.cid, subdir.tsize)], KUBO, discard)
    assert top.cid.encode() == "bafybeietjm63oynimmv5yyqay33nui4y4wx6u3peezwetxgiwvfmelutzu"

    bar, foo_txt = _file(b"Hello, world!\n"), _file(b"Hello, IPFS!\n")
    assert bar.cid.encode() == "bafkreigzafgemjeejks3vqyuo46ww2e22rt7utq5djikdofjtvnjl5zp6u"
    assert foo_txt.cid.encode() == "bafkreic3ondyhizrzeoufvoodehinugpj3ecruwokaygl7elezhn2khqfa"
    foo = make_directory([Entry("bar.txt", bar.cid, bar.tsize)], KUBO, discard)
    assert foo.cid.encode() == "bafybeidryarwh34ygbtyypbu7qjkl4euiwxby6cql6uvosonohkq2kwnkm"
    dag_pb = make_directory(
        [Entry("foo", foo.cid, foo.tsize), Entry("foo.txt", foo_txt.cid, foo_txt.tsize)], KUBO, discard
    )
    assert dag_pb.cid.encode() == "bafybeiegxwlgmoh2cny7qlolykdf7aq7g6dlommarldrbm7c4hbckhfcke"


def test_file_node_layout_matches_spec() -> None:
    """Two raw leaves: links with empty names, then UnixFS File with filesize and blocksizes."""
    blocks: dict[str, bytes] = {}
    prof = Profile("tiny", chunk_size=4, max_links=174)
    result = import_bytes(b"abcdef", prof, lambda c, b: blocks.__setitem__(c.encode(), bytes(b)))
    node = _dagpb.decode(blocks[result.cid.encode()])
    assert [(link.name, link.tsize) for link in node.links] == [("", 4), ("", 2)]
    assert node.links[0].hash == cid_for_block(b"abcd", RAW)
    assert _unixfs.decode(node.data or b"") == UnixFSData(NodeType.FILE, filesize=6, blocksizes=(4, 2))
    assert result.tsize == len(blocks[result.cid.encode()]) + 6
