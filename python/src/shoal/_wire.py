"""The agent protocol: framing, opcodes and argument encoding.

Mirrors internal/agent/wire.go; docs/python.md has the specification.
The opcodes are those of internal/agent/testdata/opcodes.txt, the one
list (python/tests/test_wire.py checks them against it).
"""

import struct

PROTOCOL_VERSION = 1

OP_PING = 1
OP_BUILD = 2
OP_ATTACH = 3
OP_STOP = 4
OP_SETOPT = 5
OP_STATFS = 10
OP_STAT = 11
OP_SETATTR = 12
OP_MKDIR = 13
OP_RMDIR = 14
OP_UNLINK = 15
OP_REMOVE = 16
OP_RENAME = 17
OP_LINK = 18
OP_SYMLINK = 19
OP_READLINK = 20
OP_REALPATH = 21
OP_MKNOD = 22
OP_SETXATTR = 23
OP_GETXATTR = 24
OP_LISTXATTR = 25
OP_REMOVEXATTR = 26
OP_LISTDIR = 30
OP_OPENDIR = 31
OP_READDIR = 32
OP_CLOSEDIR = 33
OP_OPEN = 40
OP_CLOSE = 41
OP_PREAD = 42
OP_PWRITE = 43
OP_PREAD_IOV = 44
OP_PWRITE_IOV = 45
OP_FSTAT = 46
OP_FTRUNCATE = 47
OP_FSYNC = 48
OP_IOVREG = 50
OP_IOVUNREG = 51
OP_PREADV = 52
OP_PWRITEV = 53
OP_SHAREFH = 54
OP_OPENFH = 55
OP_COPY = 56
OP_WRITEFILE = 57
OP_READFILE = 58
OP_STATS = 59
OP_SDKBENCH = 60
OP_KV_CREATE_TABLE = 70
OP_KV_DROP_TABLE = 71
OP_KV_LIST_TABLES = 72
OP_KV_DESCRIBE_TABLE = 73
OP_KV_SET = 74
OP_KV_GET = 75
OP_KV_EXIST = 76
OP_KV_TTL = 77
OP_KV_REMOVE = 78
OP_KV_INCR = 79
OP_KV_MULTI_SET = 80
OP_KV_MULTI_GET = 81
OP_KV_MULTI_GET_OPT = 82
OP_KV_MULTI_DEL = 83
OP_KV_DEL_RANGE = 84
OP_KV_SORT_KEY_COUNT = 85
OP_KV_GET_SORT_KEYS = 86
OP_KV_CHECK_AND_SET = 87
OP_KV_CHECK_AND_MUTATE = 88
OP_KV_COMPARE_EXCHANGE = 89
OP_KV_BATCH_GET = 90
OP_KV_BATCH_SET = 91
OP_KV_BATCH_DEL = 92
OP_KV_GET_SCANNER = 93
OP_KV_UNORDERED_SCANNERS = 94
OP_KV_NEXT = 95
OP_KV_CLOSE_SCANNER = 96
OP_LOAD_SUBMIT = 97
OP_LOAD_PROGRESS = 98
OP_LOAD_STOP = 99

# Requests that may be sent again after the connection broke between
# sending and the answer: repeating them changes nothing.
IDEMPOTENT = frozenset({
    OP_PING, OP_STATFS, OP_STAT, OP_READLINK, OP_REALPATH, OP_GETXATTR,
    OP_LISTXATTR, OP_LISTDIR, OP_OPENDIR, OP_PREAD, OP_PREAD_IOV, OP_FSTAT,
    OP_PREADV, OP_SETOPT, OP_FSYNC, OP_SETATTR, OP_READFILE, OP_STATS,
    OP_KV_LIST_TABLES, OP_KV_DESCRIBE_TABLE, OP_KV_SET, OP_KV_GET, OP_KV_EXIST, OP_KV_TTL,
    OP_KV_REMOVE, OP_KV_MULTI_SET, OP_KV_MULTI_GET, OP_KV_MULTI_GET_OPT, OP_KV_SORT_KEY_COUNT,
    OP_KV_GET_SORT_KEYS, OP_KV_BATCH_GET, OP_KV_BATCH_SET,
})

REQ = struct.Struct("<IIHH")  # length, id, opcode, reserved
RESP = struct.Struct("<Ii")  # id, errno
Q = struct.Struct("<q")
I = struct.Struct("<I")
ATTR = struct.Struct("<12q")
ATTR_SIZE = ATTR.size


def encode(args):
    """Encode positional arguments: ints as i64, str/bytes with a u32 length."""
    parts = []
    for a in args:
        t = type(a)
        if t is int or t is bool:
            parts.append(Q.pack(a))
        else:
            if t is str:
                a = a.encode("utf-8", "surrogateescape")
            parts.append(I.pack(len(a)))
            parts.append(a)
    return b"".join(parts)


class Dec:
    """Positional decoder over a response's results."""

    __slots__ = ("b", "o")

    def __init__(self, b, o=0):
        self.b = b
        self.o = o

    def int(self):
        v = Q.unpack_from(self.b, self.o)[0]
        self.o += 8
        return v

    def bytes(self):
        n = I.unpack_from(self.b, self.o)[0]
        o = self.o + 4
        self.o = o + n
        return bytes(self.b[o:o + n])

    def view(self):
        n = I.unpack_from(self.b, self.o)[0]
        o = self.o + 4
        self.o = o + n
        return self.b[o:o + n]

    def str(self):
        return self.bytes().decode("utf-8", "surrogateescape")

    def attr(self):
        v = ATTR.unpack_from(self.b, self.o)
        self.o += ATTR_SIZE
        return v
