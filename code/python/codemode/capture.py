"""A text stream that keeps the first `cap` characters written to it.

User code's `sys.stdout` and `sys.stderr` both write here, interleaved as on a terminal.
Writing past the cap is not an error: the rest is counted and dropped, and `truncated` is set,
so a chatty program still returns its result.
"""

import io


class CappedText(io.TextIOBase):
    def __init__(self, cap):
        super().__init__()
        self.cap = cap
        self.truncated = False
        self._parts = []
        self._size = 0

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "strict"

    def writable(self):
        return True

    def isatty(self):
        return False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        room = self.cap - self._size
        if len(s) <= room:
            self._parts.append(s)
            self._size += len(s)
        else:
            if room > 0:
                self._parts.append(s[:room])
                self._size = self.cap
            self.truncated = True
        return len(s)

    def getvalue(self):
        return "".join(self._parts)
