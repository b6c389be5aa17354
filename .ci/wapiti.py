"""Run Debian's wapiti 3.0.4 with its -x (exclude) patterns fixed: it appends a global
regex flag at the end of each pattern, which Python 3.11 refuses. Run with the system
Python that has wapitiCore (/usr/bin/python3); arguments are wapiti's own."""

import re
import sys

import wapitiCore.net.crawler as crawler
from wapitiCore.main.wapiti import wapiti_main


def wildcard_translate(pattern):
    body = "".join(".*" if char == "*" else re.escape(char) for char in pattern)
    return re.compile("(?ms)" + body + r"\Z")


crawler.wildcard_translate = wildcard_translate
sys.argv[0] = "wapiti"
sys.exit(wapiti_main())
