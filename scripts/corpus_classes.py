"""Classes pickled into brine's CPython-made test corpus.

`scripts/make_corpus.py` imports this file as the top-level module `corpus_classes`, so every
pickle in `tests/corpus/` names these classes as `corpus_classes.<qualname>`. To load such a
pickle with CPython, put `scripts/` on `sys.path`.

Changing a class here changes the corpus: regenerate it with `python3 scripts/make_corpus.py`.
"""

import copyreg


class Point:
    """Plain instance: state is its `__dict__` (copyreg._reconstructor at p0/p1, NEWOBJ at p2+)."""

    def __init__(self, x, y):
        self.x = x
        self.y = y

    def __eq__(self, other):
        return type(other) is type(self) and self.__dict__ == other.__dict__


class Outer:
    """Holds a nested class, pickled by qualname `Outer.Inner`."""

    class Inner:
        def __init__(self):
            self.tag = 'inner'


class Reduced:
    """`__reduce__` returning a plain call: `Reduced(a, b)`."""

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __reduce__(self):
        return (Reduced, (self.a, self.b))


class Bag:
    """`__reduce_ex__` returning a 5-tuple: call, state, list items and dict items."""

    def __init__(self, label=None):
        self.label = label
        self.items = []
        self.mapping = {}

    def append(self, item):
        self.items.append(item)

    def extend(self, items):
        self.items.extend(items)

    def __setitem__(self, key, value):
        self.mapping[key] = value

    def __reduce_ex__(self, protocol):
        return (Bag, (), {'label': self.label}, iter(self.items), iter(self.mapping.items()))


class WithState:
    """`__getstate__` / `__setstate__` with a non-dict state."""

    def __init__(self, value):
        self.value = value

    def __getstate__(self):
        return ('v1', self.value)

    def __setstate__(self, state):
        version, self.value = state


class Slotted:
    """`__slots__` only: state is `(None, {slot: value})` (protocol 2+ only)."""

    __slots__ = ('a', 'b')

    def __init__(self, a, b):
        self.a = a
        self.b = b


class SlottedWithDict(Slotted):
    """Slots plus a `__dict__`: state is `(dict, slotsdict)`."""

    def __init__(self, a, b, c):
        super().__init__(a, b)
        self.c = c


class NewArgs:
    """`__getnewargs__`: NEWOBJ with arguments at p2+."""

    def __new__(cls, n):
        self = super().__new__(cls)
        self.n = n
        return self

    def __getnewargs__(self):
        return (self.n,)


class NewArgsEx:
    """`__getnewargs_ex__`: NEWOBJ_EX at p4+, a functools.partial reduce at p2/p3."""

    def __new__(cls, a, *, b):
        self = super().__new__(cls)
        self.a = a
        self.b = b
        return self

    def __getnewargs_ex__(self):
        return ((self.a,), {'b': self.b})


def set_state_setter(obj, state):
    """State setter used by `WithStateSetter` (the 6th item of its reduce tuple)."""
    obj.state = dict(state)
    obj.set_by_setter = True


class WithStateSetter:
    """A 6-tuple `__reduce__` with a state_setter."""

    def __init__(self, state=None):
        self.state = state

    def __reduce__(self):
        return (WithStateSetter, (), {'k': self.state}, None, None, set_state_setter)


class MyList(list):
    """A list subclass with an attribute."""


class MyDict(dict):
    """A dict subclass with an attribute."""


class Stored:
    """An object the corpus pickler replaces with a persistent id."""

    def __init__(self, key):
        self.key = key


class ExtOne:
    """Registered as extension code 0x7f (EXT1) while the corpus is written."""


class ExtTwo:
    """Registered as extension code 0x1234 (EXT2) while the corpus is written."""


class ExtFour:
    """Registered as extension code 0x12345678 (EXT4) while the corpus is written."""


EXTENSIONS = {
    0x7f: ('corpus_classes', 'ExtOne'),
    0x1234: ('corpus_classes', 'ExtTwo'),
    0x12345678: ('corpus_classes', 'ExtFour'),
}


class extensions_registered:
    """Context manager: register `EXTENSIONS` in copyreg, remove them on exit."""

    def __enter__(self):
        for code, (module, name) in EXTENSIONS.items():
            copyreg.add_extension(module, name, code)
        return self

    def __exit__(self, *exc):
        for code, (module, name) in EXTENSIONS.items():
            copyreg.remove_extension(module, name, code)
        return False


class OldStyle:
    """Stands in for a Python 2 classic class (INST / OBJ pickles written by hand)."""

    def __eq__(self, other):
        return type(other) is type(self) and self.__dict__ == other.__dict__


class Pair:
    """INST/OBJ target with constructor arguments."""

    def __init__(self, first, second):
        self.first = first
        self.second = second
