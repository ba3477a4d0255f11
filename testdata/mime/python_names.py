#!/usr/bin/env python3
"""Print, as JSON, the attachment names Python's email package finds.

Usage: python_names.py FILE.eml...

For each message it walks every part (attached messages included, as
email.message.Message.walk does) and collects get_filename(). The Go test
in mime/ checks that each of these names, normalised, is among the names
the mime package reports for the same message.
"""
import email
import email.policy
import json
import sys


def names(path):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    found = []
    for part in msg.walk():
        try:
            name = part.get_filename()
        except Exception as e:  # a header Python cannot parse at all
            found.append({"error": repr(e)})
            continue
        if name is not None:
            found.append(str(name))
    return found


def main():
    out = {}
    for path in sys.argv[1:]:
        out[path.rsplit("/", 1)[-1]] = names(path)
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
