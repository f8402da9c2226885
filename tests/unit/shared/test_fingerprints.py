import hashlib

from shared.fingerprints import FINGERPRINT_LINES, content_hash, fingerprint, line_hashes, similarity, sketch


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def test_the_content_hash_is_the_sha1_the_search_service_gives_each_chunk():
    from services.search.documents import Chunk

    chunk = Chunk("a.py", 1, 2, "def f():\n    return 1", "python", "function", "f")
    assert chunk.content_hash == content_hash(chunk.text) == hashlib.sha1(chunk.text.encode()).hexdigest()


def test_a_short_text_s_fingerprint_holds_every_line_and_ignores_indentation_and_blank_lines():
    text = "def f(x):\n    y = x + 1\n\n    return y\n"
    assert len(fingerprint(text)) == 3 * 8
    assert sketch(fingerprint(text)) == line_hashes(text) == line_hashes("def f(x):\ny = x + 1\nreturn y")
    assert fingerprint("") == "" and sketch("") == set()


def test_similarity_is_the_exact_line_jaccard_for_short_texts():
    old = "def f(x):\n    y = x + 1\n    return y\n"
    renamed = "def g(x):\n    y = x + 1\n    return y\n"
    assert similarity(sketch(fingerprint(old)), sketch(fingerprint(renamed))) == 0.5  # 2 of 4 lines
    assert similarity(sketch(fingerprint(old)), sketch(fingerprint(old))) == 1.0
    assert similarity(set(), sketch(fingerprint(old))) == 0.0


def test_a_long_text_s_fingerprint_is_bounded_and_estimates_the_jaccard():
    lines = [f"line {n} = compute({n})" for n in range(400)]
    a, b = "\n".join(lines[:300]), "\n".join(lines[100:])  # 200 shared of 400: Jaccard 0.5
    assert len(fingerprint(a)) == FINGERPRINT_LINES * 8
    estimate = similarity(sketch(fingerprint(a)), sketch(fingerprint(b)))
    assert jaccard(line_hashes(a), line_hashes(b)) == 0.5
    assert 0.3 <= estimate <= 0.7


def test_a_malformed_fingerprint_holds_nothing():
    assert sketch("not hex at all!") == set()
