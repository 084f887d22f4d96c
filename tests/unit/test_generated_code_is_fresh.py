"""The committed protobuf code must match protos/: regenerate with `make proto`."""

from __future__ import annotations

from pathlib import Path

from paygrant.codegen import ROOT, generate


def test_generated_code_matches_the_protos(tmp_path: Path) -> None:
    generate(tmp_path)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "protoc produced nothing"
    stale = [str(p) for p in generated if (ROOT / p).read_bytes() != (tmp_path / p).read_bytes()]
    assert stale == [], f"stale generated code, run `make proto`: {stale}"
