"""CDF datapoint status codes: the 32-bit OPC-UA style code whose top two bits give the category."""

from __future__ import annotations

import numpy as np

GOOD = 0
UNCERTAIN = 0x40000000
BAD = 0x80000000

_CATEGORY_MASK = 0xC0000000
_SYMBOLS = {GOOD: "Good", UNCERTAIN: "Uncertain", BAD: "Bad"}
_CODES = {symbol.lower(): code for code, symbol in _SYMBOLS.items()}


def symbol_for(code: int) -> str:
    """The symbol CDF returns beside a code; codes beyond the three categories keep their category's name."""
    return _SYMBOLS.get(code) or _SYMBOLS[code & _CATEGORY_MASK]


def code_for(symbol: str) -> int:
    try:
        return _CODES[symbol.lower()]
    except KeyError:
        raise ValueError(f"unknown status symbol {symbol!r}") from None


def is_bad(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.uint32) & BAD) != 0


def is_uncertain(codes: np.ndarray) -> np.ndarray:
    return (codes.astype(np.uint32) & _CATEGORY_MASK) == UNCERTAIN
