"""scripts/corpus/books.py: janeaustenr's R lazy-load database, read without R."""

import struct
import zlib

import numpy as np
import pytest

from corpus import books


@pytest.mark.parametrize("compressed", [1, 3])  # R's compress=TRUE (zlib) and compress=3 (xz, with a type byte)
def test_lazyload_reader_reads_a_database_it_did_not_write(tmp_path, compressed):
    rdata = pytest.importorskip("rdata")
    import lzma

    novels = {"emma": ["EMMA", "", "Emma Woodhouse, handsome, clever, and rich."], "persuasion": ["Persuasion"]}
    blob, index = b"", {}
    for name, lines in novels.items():
        robject = rdata.conversion.convert_python_to_r_object(np.array(lines))
        raw = rdata.unparser.unparse_data(rdata.parser.RData(
            versions=rdata.parser.RVersions(3, 262657, 197888), extra=rdata.parser.RExtraInfo("UTF-8"),
            object=robject))
        body = zlib.compress(raw) if compressed == 1 else b"X" + lzma.compress(raw)
        entry = struct.pack(">I", len(raw)) + body
        index[name] = np.array([len(blob), len(entry)], dtype=np.int32)
        blob += entry
    (tmp_path / "Rdata.rdb").write_bytes(blob)
    rdata.write_rds(tmp_path / "Rdata.rdx", {"variables": index, "references": {},
                                              "compressed": np.array([compressed], dtype=np.int32)})
    assert books.read_lazyload_database(tmp_path) == novels


def test_load_books_reads_text_files_in_the_order_given(tmp_path):
    first, second = tmp_path / "b.txt", tmp_path / "a.txt"
    first.write_text("One line.\n\nTwo.\n", encoding="utf-8")
    second.write_text("Other.\n", encoding="utf-8")
    assert books.load_books(tmp_path / "cache", None, [first, second]) == [
        ("b", ["One line.", "", "Two."]), ("a", ["Other."])]


def test_find_austen_data_refuses_a_folder_without_the_database(tmp_path):
    with pytest.raises(RuntimeError, match="Rdata.rdb"):
        books.find_austen_data(tmp_path / "cache", austen_dir=tmp_path)
