"""Every error code and dead-letter reason the package can emit is documented in ``core.codes``
(and so in the generated docs/errors.md), and every documented gateway code is emitted somewhere.

The codes are collected from the source: string literals and ``ErrorCode``/``DlqReason`` members
in the places that set a code or a reason, plus the default codes of the Wawp error classes."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import wawp_gateway
from wawp_gateway.core import errors
from wawp_gateway.core.codes import DLQ_REASONS, GATEWAY_CODES, WAWP_CODES
from wawp_gateway.core.contracts import DlqReason, ErrorCode

PACKAGE = Path(wawp_gateway.__file__).parent
# The sandbox plays Wawp (its codes are Wawp's); actions.py is generated from the catalog.
EXCLUDED = (PACKAGE / "sandbox", PACKAGE / "sdk" / "actions.py")
HTTP_FAMILY = re.compile(r"^http_[0-9]{3}$")
CODE_CALLS = {"reject", "CommandRejected", "InvalidCommand", "ErrorInfo"}


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(path == ex or ex in path.parents for ex in EXCLUDED):
            continue
        yield path, ast.parse(path.read_text(), filename=str(path))


def _literal(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # f"http_{status}"
        head = node.values[0]
        if isinstance(head, ast.Constant) and head.value == "http_":
            return "http_000"
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if node.value.id == "ErrorCode":
            return str(ErrorCode[node.attr])
        if node.value.id == "DlqReason":
            return str(DlqReason[node.attr])
    return None


def _collect() -> tuple[set[str], set[str]]:
    codes: set[str] = set()
    reasons: set[str] = set()
    for _, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    value = _literal(kw.value)
                    if value is None:
                        continue
                    if kw.arg == "code":
                        codes.add(value)
                    elif kw.arg in ("reason", "dlq_reason", "dlq"):
                        reasons.add(value)
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in CODE_CALLS and node.args and (first := _literal(node.args[0])):
                    codes.add(first)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id == "ErrorCode":
                    codes.add(str(ErrorCode[node.attr]))
                elif node.value.id == "DlqReason":
                    reasons.add(str(DlqReason[node.attr]))
            elif isinstance(node, ast.arguments):  # def reject(..., dlq_reason="validation")
                positional = [*node.posonlyargs, *node.args]
                pairs = [
                    *zip(
                        positional[len(positional) - len(node.defaults) :],
                        node.defaults,
                        strict=True,
                    ),
                    *zip(node.kwonlyargs, node.kw_defaults, strict=True),
                ]
                for arg, default in pairs:
                    value = _literal(default) if default is not None else None
                    if value is not None and arg.arg == "dlq_reason":
                        reasons.add(value)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id == "dlq_reason":
                    value = _literal(node.value)
                    if value is not None:
                        reasons.add(value)
    codes |= {cls.default_code for cls in _leaf_error_classes()}
    reasons |= {cls.dlq_reason for cls in _leaf_error_classes()}
    return codes, reasons


def _leaf_error_classes() -> list[type[errors.WawpError]]:
    found: list[type[errors.WawpError]] = []
    pending: list[type[errors.WawpError]] = [errors.WawpError]
    while pending:
        cls = pending.pop()
        subclasses = cls.__subclasses__()
        if not subclasses:
            found.append(cls)
        pending.extend(subclasses)
    return found


def test_every_emitted_code_is_documented() -> None:
    """A code the package sets is one of the gateway's, one of Wawp's listed, or http_<status>."""
    codes, _ = _collect()
    documented = {doc.code for doc in GATEWAY_CODES} | {doc.code for doc in WAWP_CODES}
    undocumented = {c for c in codes if c not in documented and not HTTP_FAMILY.match(c)}
    assert not undocumented, f"codes emitted but missing from core/codes.py: {undocumented}"


def test_every_gateway_code_is_emitted() -> None:
    """No documented gateway code is stale: each one is set somewhere in the package."""
    codes, _ = _collect()
    missing = {doc.code for doc in GATEWAY_CODES} - codes
    assert not missing, f"documented but never emitted: {missing}"


def test_every_dead_letter_reason_is_documented_and_used() -> None:
    _, reasons = _collect()
    documented = {str(doc.reason) for doc in DLQ_REASONS}
    assert documented == {str(r) for r in DlqReason}
    assert reasons <= documented, f"undocumented reasons: {reasons - documented}"
    assert documented <= reasons, f"reasons never used: {documented - reasons}"


def test_gateway_codes_table_matches_the_enum() -> None:
    assert [doc.code for doc in GATEWAY_CODES] == [str(c) for c in ErrorCode]


def test_the_collector_sees_a_new_literal_code() -> None:
    """The AST collector is not blind: a made-up code in a call is found."""
    tree = ast.parse('ErrorInfo(code="made_up_code", message="", retryable=False)')
    call = tree.body[0].value  # type: ignore[attr-defined]
    assert _literal(call.keywords[0].value) == "made_up_code"
