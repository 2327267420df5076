"""Server-side SVG charts: well-formed, escaped, and honest about having no data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from deai.web import charts


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on malformed markup


def test_every_chart_is_well_formed_svg_with_escaped_labels() -> None:
    evil = '<script>alert("x")</script>&'
    for svg in (
        charts.bar_chart([(evil, 3), ("b", 1)], title=evil, links=["/x?a=1&b=2", None]),
        charts.column_chart([(evil, 2), ("b", 0)], title=evil),
        charts.line_chart({evil: [(1_700_000_000, 1.0), (1_700_000_600, 3.0)], "b": [(1_700_000_300, 2.0)]}, title=evil),
        charts.lineage_graph([("a", evil, "dataset"), ("b", "m", "model")], [("a", "b")], focus="b", link=lambda c: f"/model/{c}"),
    ):
        root = parse(svg)
        assert root.tag.endswith("svg")
        assert "<script>" not in svg


def test_empty_data_says_so() -> None:
    for svg in (charts.bar_chart([], title="t"), charts.column_chart([("a", 0)], title="t"),
                charts.line_chart({}, title="t"), charts.lineage_graph([], [], focus="x", link=str)):
        assert "no data yet" in svg


def _rows_of(svg: str) -> dict[str, float]:
    return {str(a.get("href")): float(str(a.find("rect").get("y")))  # type: ignore[union-attr]
            for a in parse(svg).iter("a")}


def test_lineage_puts_parents_above_children_and_survives_a_cycle() -> None:
    nodes = [("d", "d", "dataset"), ("m", "m", "model"), ("f", "f", "model")]
    ys = _rows_of(charts.lineage_graph(nodes, [("d", "m"), ("m", "f"), ("d", "f")], focus="m", link=str))
    assert ys["d"] < ys["m"] < ys["f"]
    looped = _rows_of(charts.lineage_graph(nodes, [("d", "m"), ("m", "f"), ("f", "d")], focus="m", link=str))
    assert set(looped) == {"d", "m", "f"}
