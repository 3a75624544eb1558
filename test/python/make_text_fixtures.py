"""Reference fixtures for the text (CLIP tokenizer) tests.

Writes into OUT_DIR:
  clip/         a small CLIP tokenizer in the exact Hugging Face layout
                (vocab.json, merges.txt, tokenizer_config.json,
                special_tokens_map.json), pad token "<|endoftext|>" (SD-1.5)
  clip_pad_bang/ the same vocabulary with pad token "!" (SDXL tokenizer_2)
  clip_legacy/  the same vocabulary with an older SD-1.5 style config (no
                added_tokens_decoder; special tokens as objects)
  cases.json    for each prompt and each directory: the ids transformers'
                CLIPTokenizer gives with and without special tokens.

The vocabulary is built the way OpenAI built CLIP's: the 256 byte-level
characters, the same with "</w>", one token per merge, then the two specials.
Merges are learned here by plain BPE on a fixed English corpus, so the
output is deterministic and takes well under a second.

Usage: python make_text_fixtures.py OUT_DIR
"""
import collections
import json
import pathlib
import sys

import regex

CORPUS = """
a photo of a cat sitting on a red sofa in the living room
a painting of a dog running through the park at sunset
an astronaut riding a horse on the moon, highly detailed, 4k
portrait of a woman with long hair, oil painting, trending on artstation
the quick brown fox jumps over the lazy dog
a beautiful landscape with mountains and a lake, digital art
it's a cat that's sleeping; they're happy and we've seen it, i'm sure you'll like it, he'd say
city street at night with neon lights and rain, cinematic lighting
a bowl of fruit on a wooden table, still life, photorealistic
a castle on a hill surrounded by clouds, fantasy art, concept art
close up photo of a flower with water drops, macro photography
a cute robot playing with a ball in the garden
the ocean waves crashing against the rocks during a storm
masterpiece, best quality, ultra detailed, sharp focus, 8k wallpaper
""" * 3

CLIP_PATTERN = (r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|"""
                r"""[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""")
NUM_MERGES = 300
BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def byte_to_unicode():
    """GPT-2's reversible map from bytes to printable characters."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(printable, chars)}


def learn_merges(corpus, count):
    table = byte_to_unicode()
    words = collections.Counter()
    for word in regex.findall(CLIP_PATTERN, corpus.lower()):
        symbols = [table[b] for b in word.encode("utf-8")]
        symbols[-1] += "</w>"
        words[tuple(symbols)] += 1
    merges = []
    for _ in range(count):
        pairs = collections.Counter()
        for word, freq in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += freq
        if not pairs:
            break
        # Most frequent pair; ties broken by the pair itself, for determinism.
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = collections.Counter()
        for word, freq in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += freq
        words = merged
    return merges


def write_tokenizer_dir(path, merges, pad_token):
    path.mkdir(parents=True, exist_ok=True)
    byte_chars = list(byte_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    tokens += [BOS, EOS]
    vocab = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    (path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (path / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def added(content):
        return {"content": content, "lstrip": False, "normalized": True, "rstrip": False,
                "single_word": False, "special": True}

    decoder = {str(vocab[BOS]): added(BOS), str(vocab[EOS]): added(EOS)}
    if pad_token not in (BOS, EOS):
        decoder[str(vocab[pad_token])] = added(pad_token)
        decoder[str(vocab[pad_token])]["normalized"] = False
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": dict(sorted(decoder.items(), key=lambda kv: int(kv[0]))),
        "bos_token": BOS,
        "clean_up_tokenization_spaces": True,
        "do_lower_case": True,
        "eos_token": EOS,
        "errors": "replace",
        "model_max_length": 77,
        "pad_token": pad_token,
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": EOS,
    }
    (path / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False),
                                                encoding="utf-8")
    special = {
        "bos_token": {"content": BOS, "lstrip": False, "normalized": True, "rstrip": False,
                      "single_word": False},
        "eos_token": {"content": EOS, "lstrip": False, "normalized": True, "rstrip": False,
                      "single_word": False},
        "pad_token": pad_token,
        "unk_token": {"content": EOS, "lstrip": False, "normalized": True, "rstrip": False,
                      "single_word": False},
    }
    (path / "special_tokens_map.json").write_text(json.dumps(special, indent=2, ensure_ascii=False),
                                                  encoding="utf-8")


def write_legacy_dir(path, merges):
    """The config layout of runwayml/stable-diffusion-v1-5's tokenizer."""
    write_tokenizer_dir(path, merges, EOS)

    def token(content):
        return {"__type": "AddedToken", "content": content, "lstrip": False, "normalized": True,
                "rstrip": False, "single_word": False}

    config = {"add_prefix_space": False, "bos_token": token(BOS), "do_lower_case": True,
              "eos_token": token(EOS), "errors": "replace", "model_max_length": 77,
              "pad_token": EOS, "tokenizer_class": "CLIPTokenizer", "unk_token": token(EOS)}
    (path / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    special = {key: value for key, value in config.items() if key.endswith("_token")}
    for value in special.values():
        if isinstance(value, dict):
            del value["__type"]
    (path / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")


def normalization_cases(tokenizer):
    """Strings covering every NFC composition and lower-case mapping, with
    what the tokenizers normalizer makes of them."""
    import unicodedata

    samples = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        decomposed = unicodedata.normalize("NFD", ch)
        if decomposed != ch or ch.lower() != ch or ch.upper() != ch:
            samples.append(decomposed if decomposed != ch else ch)
    normalizer = tokenizer.backend_tokenizer.normalizer
    chunks = [" ".join(samples[i:i + 64]) for i in range(0, len(samples), 64)]
    return [{"text": c, "normalized": normalizer.normalize_str(c)} for c in chunks]


PROMPTS = [
    "a photo of a cat",
    "",
    "A PHOTO OF A CAT",
    "An Astronaut Riding A Horse On The Moon",
    "a photo of a cat, highly detailed!",
    "hello, world... what?!",
    "it's a cat's toy",
    "they're here and we've seen it; don't you'll i'm he'd",
    "IT'S A CAT'S TOY",
    "'s 't 're 've 'm 'll 'd",
    "rock'n'roll 'quoted'",
    "4k 8k 1080p 2024 3.14159",
    "12345678901234567890",
    "  leading and trailing spaces   ",
    "multiple    spaces\tand\ttabs\nand\nnewlines\r\n",
    "\u00a0non-breaking\u00a0space\u2003em space\u3000ideographic",
    "café crème brûlée",
    "Über naïve façade",
    "cafe\u0301 (combining accent, NFC composes it)",
    "ÀÉÎÕÜ ÅÆØ ß ẞ",
    "İstanbul and ΣΟΦΙΑ σοφία",
    "日本語のテキスト",
    "一只猫坐在沙发上",
    "한국어 텍스트",
    "emoji 🐱🚀✨ and 👍🏽",
    "family 👨‍👩‍👧 zwj",
    "a red <|endoftext|> blue",
    "<|startoftext|>a cat<|endoftext|>",
    "<|ENDOFTEXT|> uppercase special",
    "x<|endoftext|>y!<|endoftext|>!",
    "math: 2+2=4, 10% off, $5.99 #tag @user",
    "brackets (a) [b] {c} <d> | e ~ f ^ g",
    "quotes \"double\" and ‘curly’ “quotes”",
    "dashes - – — and ellipsis …",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "Ⅻ ½ ² ① arabic ٣ digits",
    "mixedCase CamelCaseWord snake_case kebab-case",
    "the the the the the",
    "unknownwordzzqx qwxz",
    "!!! ??? ... ,,,",
    "a\u200bzero\u200bwidth",
    "tab\tonly",
    "masterpiece, best quality, ultra detailed, sharp focus, 8k wallpaper",
    " ".join(["a photo of a cat sitting on a red sofa"] * 12),
    "word " * 80,
    ", ".join(str(i) for i in range(60)),
    "hello!",
    "!",
    "hello ! world !!",
    "ΟΔΟΣ final sigma, İ dotted capital",
    "Ǆ ǅ ǆ titlecase, ﬁ ligature, Ⓐ circled",
    "a\u0323\u0307 and a\u0307\u0323 (marks reordered by NFC)",
    "\u1100\u1161\u11a8 (conjoining jamo)",
]


def main() -> None:
    from transformers import CLIPTokenizer

    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    merges = learn_merges(CORPUS, NUM_MERGES)
    dirs = {"clip": EOS, "clip_pad_bang": "!", "clip_legacy": EOS}
    cases = {}
    for name, pad in dirs.items():
        if name == "clip_legacy":
            write_legacy_dir(out / name, merges)
        else:
            write_tokenizer_dir(out / name, merges, pad)
        tokenizer = CLIPTokenizer.from_pretrained(str(out / name))
        assert tokenizer.pad_token == pad, (tokenizer.pad_token, pad)
        rows = []
        for prompt in PROMPTS:
            padded = tokenizer(prompt, padding="max_length", max_length=77, truncation=True).input_ids
            plain = tokenizer(prompt, add_special_tokens=False).input_ids
            rows.append({"prompt": prompt, "input_ids": padded, "ids": plain})
        cases[name] = {"pad_id": tokenizer.pad_token_id, "bos_id": tokenizer.bos_token_id,
                       "eos_id": tokenizer.eos_token_id, "vocab_size": len(tokenizer.get_vocab()),
                       "cases": rows}
    cases["normalization"] = normalization_cases(tokenizer)
    (out / "cases.json").write_text(json.dumps(cases, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"text fixtures: {len(PROMPTS)} prompts x {len(dirs)} tokenizers -> {out}")


if __name__ == "__main__":
    main()
