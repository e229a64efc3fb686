"""Values of the expression language: kinds, coercions, truthiness, comparison, strings.

Values are plain Python data (what ``json.loads`` gives) so that contexts can be
passed in without conversion: ``None``, ``bool``, ``int``/``float``, ``str``,
``list`` (or tuple) and ``dict`` (or any Mapping). ``bool`` is checked before
``int`` everywhere, because in Python ``True`` is an ``int``.

The semantics follow GitHub's runner and its shared conformance data:

* comparison is JavaScript's loose equality minus object coercion: null and
  booleans become numbers, a string compared with a number is parsed as a
  number (``Number()`` rules: hex/octal/binary prefixes, ``Infinity``,
  surrounding whitespace), arrays and objects only equal themselves;
* strings compare case-insensitively (upper-cased, except the dotless ``ı``,
  which .NET's ordinal-ignore-case leaves alone);
* numbers become strings the way the runner's ``G15`` format does (15
  significant digits, ``1E+15`` beyond), with ``-0`` printed as ``0``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

__all__ = [
    "ARRAY",
    "BOOLEAN",
    "MISSING",
    "NULL",
    "NUMBER",
    "OBJECT",
    "STRING",
    "FilteredArray",
    "Value",
    "ci_get",
    "fold",
    "kind_code",
    "kind_of",
    "loose_eq",
    "loose_gt",
    "loose_lt",
    "number_to_string",
    "str_to_number",
    "to_number",
    "to_string",
    "truthy",
]

Value: TypeAlias = "bool | float | int | str | list[Value] | dict[str, Value] | None"

# Kind codes: small ints so that comparisons dispatch on identity, not strings.
NULL: Final = 0
BOOLEAN: Final = 1
NUMBER: Final = 2
STRING: Final = 3
ARRAY: Final = 4
OBJECT: Final = 5

_KIND_NAMES: Final = ("Null", "Boolean", "Number", "String", "Array", "Object")


class FilteredArray(list[Any]):
    """The result of ``.*`` / ``[*]``: indexing it again applies to every item.

    ``a.*.b`` means "the ``b`` of each element of ``a``"; a plain array indexed
    with ``.b`` is null. Keeping the distinction in the type is how the
    evaluator knows which rule applies.
    """

    __slots__ = ()


_KIND_BY_TYPE: Final[dict[type, int]] = {
    type(None): NULL,
    bool: BOOLEAN,
    int: NUMBER,
    float: NUMBER,
    str: STRING,
    list: ARRAY,
    FilteredArray: ARRAY,
    tuple: ARRAY,
    dict: OBJECT,
}


def kind_code(value: Any) -> int:
    """The kind of ``value`` as one of the module's small-int codes."""
    k = _KIND_BY_TYPE.get(type(value))
    if k is not None:
        return k
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, (int, float)):
        return NUMBER
    if isinstance(value, str):
        return STRING
    if isinstance(value, Mapping):
        return OBJECT
    if isinstance(value, Sequence):
        return ARRAY
    # Anything else (a date, a custom object) behaves like its string form.
    return STRING


def kind_of(value: Any) -> str:
    """GitHub's kind name: ``Null``, ``Boolean``, ``Number``, ``String``, ``Array`` or ``Object``."""
    return _KIND_NAMES[kind_code(value)]


def truthy(value: Any) -> bool:
    """GitHub truthiness: null, false, 0, NaN and '' are false; arrays and objects are true."""
    k = kind_code(value)
    if k == NULL:
        return False
    if k == BOOLEAN:
        return bool(value)
    if k == NUMBER:
        return bool(value == value and value != 0)  # NaN != NaN
    if k == STRING:
        return len(str(value)) > 0
    return True


# ---------------------------------------------------------------------------
# Numbers


_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z", re.ASCII)
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_OCT_DIGITS: Final = frozenset("01234567")
_BIN_DIGITS: Final = frozenset("01")
_RADIX: Final = {"x": (16, _HEX_DIGITS), "o": (8, _OCT_DIGITS), "b": (2, _BIN_DIGITS)}
_INF: Final = math.inf
_NAN: Final = math.nan


def str_to_number(text: str) -> float:
    """JavaScript's ``Number(text)``: what GitHub does when a string meets a number.

    Surrounding whitespace is ignored and the empty string is 0; ``0x``/``0o``/
    ``0b`` prefixes (unsigned), decimal literals with exponent, and
    ``[+-]Infinity`` are numbers; anything else is NaN. Python's ``float()``
    is too lenient (``inf``, ``1_0``, non-ASCII digits), hence the checks.
    """
    t = text.strip()
    if not t:
        return 0.0
    if t.isdigit() and t.isascii():
        return float(int(t))
    if _DECIMAL.match(t):
        return float(t)
    if len(t) > 2 and t[0] == "0":
        radix = _RADIX.get(t[1].lower())
        if radix is not None:
            base, digits = radix
            body = t[2:]
            if all(c in digits for c in body):
                return float(int(body, base))
            return _NAN
    if t in ("Infinity", "+Infinity"):
        return _INF
    if t == "-Infinity":
        return -_INF
    return _NAN


def to_number(value: Any) -> float:
    """Coerce to a number: null→0, booleans→0/1, strings parsed, arrays/objects→NaN."""
    k = kind_code(value)
    if k == NUMBER:
        return float(value)
    if k == NULL:
        return 0.0
    if k == BOOLEAN:
        return 1.0 if value else 0.0
    if k == STRING:
        return str_to_number(str(value))
    return _NAN


def number_to_string(value: float | int) -> str:
    """Format a number as the runner does (.NET ``G15``): ``1.50``→``1.5``, ``1e15``→``1E+15``."""
    if value != value:
        return "NaN"
    if value == _INF:
        return "Infinity"
    if value == -_INF:
        return "-Infinity"
    if value == 0:
        return "0"  # also -0
    if type(value) is int and -(10**15) < value < 10**15:
        return str(value)
    if float(value).is_integer() and -1e15 < value < 1e15:
        return str(int(value))
    return f"{float(value):.15G}"


# ---------------------------------------------------------------------------
# Strings


def fold(text: str) -> str:
    """Case-fold for GitHub's ordinal-ignore-case: upper-case, but keep ``ı`` (dotless i)."""
    if "ı" not in text:
        return text.upper()
    return "ı".join(part.upper() for part in text.split("ı"))


def to_string(value: Any) -> str:
    """A value as GitHub writes it into a string: null→'', true→'true', arrays→'Array'."""
    t = type(value)
    if t is str:
        return value  # type: ignore[no-any-return]
    k = kind_code(value)
    if k == NULL:
        return ""
    if k == BOOLEAN:
        return "true" if value else "false"
    if k == NUMBER:
        return number_to_string(value)
    if k == ARRAY:
        return "Array"
    if k == OBJECT:
        return "Object"
    return str(value)


MISSING: Final[Any] = object()


def ci_get(obj: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """Case-insensitive property lookup (GitHub's dictionaries ignore case)."""
    value = obj.get(key, MISSING)
    if value is not MISSING:
        return value
    folded = fold(key)
    for k, v in obj.items():
        if type(k) is str and fold(k) == folded:
            return v
    return default


# ---------------------------------------------------------------------------
# Comparison


def _coerce(a: Any, ka: int, b: Any, kb: int) -> tuple[Any, int, Any, int]:
    """Bring two values of different kinds to a common kind where GitHub does so."""
    if ka in (NULL, BOOLEAN):
        a, ka = to_number(a), NUMBER
    if kb in (NULL, BOOLEAN):
        b, kb = to_number(b), NUMBER
    if ka == NUMBER and kb == STRING:
        b, kb = str_to_number(b), NUMBER
    elif ka == STRING and kb == NUMBER:
        a, ka = str_to_number(a), NUMBER
    return a, ka, b, kb


def loose_eq(a: Any, b: Any) -> bool:
    """GitHub's ``==``."""
    if type(a) is str and type(b) is str:
        return a == b or fold(a) == fold(b)
    ka = kind_code(a)
    kb = kind_code(b)
    if ka != kb:
        a, ka, b, kb = _coerce(a, ka, b, kb)
        if ka != kb:
            return False
    if ka == NUMBER:
        return bool(a == b)  # NaN never equals
    if ka == STRING:
        return bool(a == b) or fold(a) == fold(b)
    if ka == NULL:
        return True
    if ka == BOOLEAN:
        return bool(a) == bool(b)
    return a is b  # arrays and objects: by reference


def loose_gt(a: Any, b: Any) -> bool:
    """GitHub's ``>``."""
    ka = kind_code(a)
    kb = kind_code(b)
    if ka != kb:
        a, ka, b, kb = _coerce(a, ka, b, kb)
        if ka != kb:
            return False
    if ka == NUMBER:
        return bool(a > b)
    if ka == STRING:
        return fold(a) > fold(b)
    if ka == BOOLEAN:
        return bool(a) and not b
    if ka == NULL:
        return False
    return False


def loose_lt(a: Any, b: Any) -> bool:
    """GitHub's ``<``."""
    ka = kind_code(a)
    kb = kind_code(b)
    if ka != kb:
        a, ka, b, kb = _coerce(a, ka, b, kb)
        if ka != kb:
            return False
    if ka == NUMBER:
        return bool(a < b)
    if ka == STRING:
        return fold(a) < fold(b)
    if ka == BOOLEAN:
        return not a and bool(b)
    return False
