"""Built-in functions duckdb-kql 1.1.2 lacks, written as KQL expressions of functions it has.

duckdb-kql refuses scalar stored functions, so each definition is inlined at the call site (by the
`inlined function call` desugaring in harness.kql.desugar, which finds the calls on Microsoft's syntax
tree and checks that the analyzer's result schema is unchanged). Only functions whose documentation
defines the result exactly in terms of functions the engine has are here; each definition cites the
documented behaviour it follows, and tests/test_inlined.py runs the documentation's own examples
through the definition on the engine. Everything else stays a refusal (docs/engine-gaps.md).

- `split(source, delimiter, requestedIndex)` with a non-negative integer literal index:
  "the returned string array contains the requested substring at the index if it exists" (split) is
  `array_slice(split(source, delimiter), i, i)`: "the values in the range [start..end] ... out of bounds
  indices are ignored" (array_slice). A negative index is not documented for split: refused.
- `ipv4_is_match(ip1, ip2[, prefix])`: "the two IPv4 strings are parsed and compared while accounting for
  the combined IP-prefix mask calculated from argument prefixes, and the optional prefix argument"; null
  "if conversion for one of the two IPv4 strings wasn't successful". `parse_ipv4` parses the same
  IP-prefix notation and returns the address under its own mask. Equality under the combined (shortest)
  mask is the disjunction of equality under each candidate mask, since equality under a longer mask
  implies equality under a shorter one; each candidate is made by writing one argument's prefix (or the
  `prefix` argument, an integer literal 0..32) after the other's address. Each argument is read more than
  once, so none may call `rand()` or `new_guid()`.

Not inlined (no exact definition from supported functions; the refusal stays): `ipv4_is_private` (a
prefix shorter than a private range's, e.g. `10.1.2.3/7`, is not documented), `parse_urlquery`,
`extract_json` (number and object formatting of the extracted text), `base64_decode_toarray` (no byte
access), `todecimal`, `parse_xml`.
"""

from __future__ import annotations

__all__ = ["INLINED", "ipv4_is_match", "split_at"]

#: The functions this module defines, by name.
INLINED: tuple[str, ...] = ("split", "ipv4_is_match")


def split_at(source: str, delimiter: str, index: int) -> str:
    """`split(source, delimiter, index)` for a literal index >= 0."""
    if index < 0:
        raise ValueError("a negative requestedIndex is not documented")
    return f"array_slice(split({source}, {delimiter}), {index}, {index})"


def _address(ip: str) -> str:
    """The part of an IPv4 string before its IP-prefix (the whole string when it has none)."""
    return f'iff(indexof({ip}, "/") < 0, {ip}, substring({ip}, 0, indexof({ip}, "/")))'


def _prefix(ip: str) -> str:
    """The IP-prefix of an IPv4 string, `/` included ("" when it has none)."""
    return f'iff(indexof({ip}, "/") < 0, "", substring({ip}, indexof({ip}, "/")))'


def ipv4_is_match(ip1: str, ip2: str, prefix: int | None = None) -> str:
    """`ipv4_is_match(ip1, ip2[, prefix])` from `parse_ipv4` (each argument a parenthesised expression)."""
    if prefix is not None and not 0 <= prefix <= 32:
        raise ValueError("prefix must be an integer from 0 to 32")
    a, b = f"parse_ipv4({ip1})", f"parse_ipv4({ip2})"
    candidates = [
        f"{a} == parse_ipv4(strcat({_address(ip2)}, {_prefix(ip1)}))",  # under ip1's mask
        f"parse_ipv4(strcat({_address(ip1)}, {_prefix(ip2)})) == {b}",  # under ip2's mask
    ]
    if prefix is not None:
        candidates.append(
            f'parse_ipv4(strcat({_address(ip1)}, "/{prefix}")) == parse_ipv4(strcat({_address(ip2)}, "/{prefix}"))'
        )
    return f"iff(isnull({a}) or isnull({b}), bool(null), {' or '.join(f'({c})' for c in candidates)})"
