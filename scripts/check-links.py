#!/usr/bin/env python3
"""Fails on a broken link of the book or the README: a relative link whose file does not exist,
or whose #anchor is no heading of that page (ids as mdBook makes them). External links are not
followed (the machines that run the tests have no internet); they are only counted."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r'(?<!!)\[([^\]]*)\]\(([^)\s]+)(?:\s+"[^"]*")?\)')


def prose(text, spans):
    """The text outside fenced code blocks, each code span replaced by `spans` (a re.sub
    template: `\\1` keeps its text, for headings; links in code are not links)."""
    out, fence = [], False
    for line in text.split('\n'):
        if line.strip().startswith('```'):
            fence = not fence
            continue
        if not fence:
            out.append(re.sub(r'`([^`]*)`', spans, line))
    return '\n'.join(out)


def anchors(path):
    ids = set()
    for line in prose(open(path, encoding='utf-8').read(), r'\1').split('\n'):
        m = re.match(r'^#{1,6}\s+(.*)$', line)
        if m:
            title = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', m.group(1)).strip()
            slug = ''.join(c for c in title.lower() if c.isalnum() or c in ' -_').replace(' ', '-')
            base, n = slug, 1
            while slug in ids:
                slug = f'{base}-{n}'
                n += 1
            ids.add(slug)
    return ids


def check(path):
    problems, external = [], 0
    text = open(path, encoding='utf-8').read()
    for label, target in LINK.findall(prose(text, '``')):
        if re.match(r'^[a-z]+:', target):
            external += 1
            continue
        file, _, anchor = target.partition('#')
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        rel = os.path.relpath(path, ROOT)
        if not os.path.exists(dest):
            problems.append(f'{rel}: [{label}]({target}): no such file')
        elif anchor and dest.endswith('.md') and anchor not in anchors(dest):
            problems.append(f'{rel}: [{label}]({target}): no heading #{anchor} there')
    return problems, external


def main():
    src = os.path.join(ROOT, 'docs', 'src')
    pages = [os.path.join(src, f) for f in sorted(os.listdir(src)) if f.endswith('.md')]
    pages.append(os.path.join(ROOT, 'README.md'))
    summary = open(os.path.join(src, 'SUMMARY.md'), encoding='utf-8').read()
    listed = set(re.findall(r'\]\(([^)]+\.md)\)', summary))
    problems, external = [], 0
    for p in pages:
        found, ext = check(p)
        problems += found
        external += ext
        name = os.path.basename(p)
        if os.path.dirname(p) == src and name != 'SUMMARY.md' and name not in listed:
            problems.append(f'docs/src/{name}: not in SUMMARY.md, so not in the book')
    for p in problems:
        print(p, file=sys.stderr)
    print(f'check-links: {len(pages)} pages, {external} external links not followed, '
          f'{len(problems)} broken', file=sys.stderr)
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
