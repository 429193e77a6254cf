"""Wrong answers learners write for exercise 16, as edits of solutions/ex16_failure_modes.py
(format: see ex01_forward.py)."""

_FG = "labels = component_labels(images.amax(dim=1) > threshold)"
_COUNT = "duplicated += int((areas >= min_area).sum() > 1)"
_BIND = "if any(a in o and o[a] == g.get(a) for j, o in enumerate(wanted) if j != i):"
_LETTERS = "right += sum(k < len(read) and read[k] == c for k, c in enumerate(want))"

MUTANTS = {
    "duplication_rate: the mean channel instead of the brightest": (
        _FG, "labels = component_labels(images.mean(dim=1) > threshold)"),
    "duplication_rate: threshold ignored (always 0)": (
        _FG, "labels = component_labels(images.amax(dim=1) > 0)"),
    "duplication_rate: specks kept (min_area ignored)": (_COUNT, "duplicated += int(len(areas) > 1)"),
    "duplication_rate: min_area strict (>)": (_COUNT, "duplicated += int((areas > min_area).sum() > 1)"),
    "duplication_rate: any object counts as a duplicate": (
        _COUNT, "duplicated += int((areas >= min_area).sum() >= 1)"),
    "duplication_rate: mean number of objects, not the share of images": (
        _COUNT, "duplicated += int((areas >= min_area).sum())"),
    "duplication_rate: 4-connected components": (
        _FG, "labels = component_labels(images.amax(dim=1) > threshold, connectivity=4)"),
    "duplication_rate: a tensor returned": (
        "return duplicated / images.shape[0]",
        "return torch.tensor(duplicated / images.shape[0])"),
    "binding_error: any wrong attribute counts (a plain error)": (
        _BIND, "if True:"),
    "binding_error: an unnamed attribute compared too": (
        "if a not in w or g.get(a) == w[a]:", "if g.get(a) == w.get(a):"),
    "binding_error: position counted as a bindable attribute": (
        'ATTRIBUTES = ("shape", "color", "size")', 'ATTRIBUTES = ("shape", "color", "size", "position")'),
    "binding_error: only colour checked": (
        'ATTRIBUTES = ("shape", "color", "size")', 'ATTRIBUTES = ("color",)'),
    "binding_error: only the first wanted object checked": (
        "for i, (w, g) in enumerate(zip(wanted, got)):",
        "for i, (w, g) in enumerate(zip(wanted[:1], got[:1])):"),
    "binding_error: kind not checked": (
        'if g is None or g["kind"] != w["kind"]:', "if g is None:"),
    "spelling_accuracy: letters compared as a set (order ignored)": (
        _LETTERS, "right += sum(c in read for c in want)"),
    "spelling_accuracy: averaged per word instead of pooled over letters": (
        "return right / total, exact / len(pairs)",
        "return right / total * 0 + sum(sum(k < len(r) and r[k] == c for k, c in enumerate(w)) / len(w) "
        "for w, r in pairs) / len(pairs), exact / len(pairs)"),
    "spelling_accuracy: a word counts when it starts right": (
        "exact += read == want", "exact += read.startswith(want)"),
    "spelling_accuracy: divided by the letters read": ("total += len(want)", "total += max(len(read), 1)"),
}
