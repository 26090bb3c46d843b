#!/usr/bin/env python3
"""Regenerates colormap_data.go from matplotlib's _cm_listed.py.

Usage: python3 gencolormaps.py /path/to/matplotlib/_cm_listed.py > colormap_data.go

The data file is plain Python lists; it is executed with ListedColormap
replaced by a no-op, so matplotlib itself need not be importable.
"""
import sys

src = open(sys.argv[1]).read().replace(
    'from .colors import ListedColormap', 'ListedColormap = lambda *a, **k: None')
d = {}
exec(src, d)
out = [
    '// Code generated from matplotlib 3.6.3 lib/matplotlib/_cm_listed.py by gencolormaps.py; DO NOT EDIT.',
    '//',
    '// viridis, inferno, magma and plasma are the tables by Nathaniel J. Smith,',
    '// Stefan van der Walt and Eric Firing, released under CC0. turbo is',
    "// Google LLC's Turbo colormap table (Anton Mikhailov, Apache License 2.0),",
    '// as shipped in matplotlib.',
    '',
    'package render',
    '',
]
for name in ['viridis', 'inferno', 'magma', 'plasma', 'turbo']:
    data = d['_%s_data' % name]
    assert len(data) == 256
    out.append('var %sData = [256][3]float64{' % name)
    for r, g, b in data:
        out.append('\t{%r, %r, %r},' % (r, g, b))
    out.append('}')
    out.append('')
sys.stdout.write('\n'.join(out))
