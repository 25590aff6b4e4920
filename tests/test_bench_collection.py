"""benchmarks/bench_collection.py: outcomes from reader warnings, true text of a source page, text fidelity."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_collection", ROOT / "benchmarks" / "bench_collection.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_outcome_is_read_plain_or_skipped_with_the_readers_reason():
    bench = _bench()
    assert bench.outcome({"read": True, "warnings": []}) == ("read", "")
    said = "a.pdf: page 3 read on the plain path (layout rules failed: ValueError)"
    assert bench.outcome({"read": True, "warnings": [said]}) == ("plain", said)
    skipped = {"read": False, "warnings": ["skipped a.pdf: cannot be read as PDF (ValueError: x)"]}
    assert bench.outcome(skipped) == ("skipped", "cannot be read as PDF (ValueError: x)")
    assert bench.outcome({"read": False, "error": "PdfiumError: broken"}) == ("skipped", "PdfiumError: broken")


def test_true_text_splits_a_sphinx_page_into_main_content_and_furniture(tmp_path):
    bench = _bench()
    page = tmp_path / "p.html"
    page.write_text('<html><body><div class="related">Previous topic Next topic</div>'
                    '<div role="main"><h1>Queues<a class="headerlink" href="#q">¶</a></h1>'
                    '<p>A queue holds items in order.</p></div><div class="footer">Show Source 2023</div></body></html>')
    main, furniture = bench.true_text(page)
    assert bench.words(main) == ["queues", "a", "queue", "holds", "items", "in", "order"]
    assert bench.furniture_only_words(furniture, bench.words(main)) == {"previous", "topic", "next", "show", "source"}


def test_fidelity_counts_words_in_order_and_furniture_that_got_in():
    bench = _bench()
    source = bench.words("one two three four")
    share, n, which = bench.fidelity(source, {"next", "topic"}, "one two Next topic four three")
    assert share == 0.75  # one two ... four (or three): three of four in order
    assert n == 2 and which == {"next": 1, "topic": 1}
    assert bench.fidelity(source, set(), "")[0] == 0.0
