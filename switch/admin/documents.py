"""What an uploaded KYC document must be: a real JPEG or PNG image, or a real PDF,
checked by parsing it with a well-kept library rather than by its first bytes (a file
that starts ``%PDF-`` and holds HTML is not a PDF).

Images are decoded and encoded again (Pillow) within bounded dimensions: what is
stored is pixels, without the upload's metadata (a phone photo's EXIF carries its GPS
position and the device; none of it belongs in a KYC file). PDFs are parsed (pypdf)
and kept as they came, with a bounded number of pages.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

MAX_SIDE_PX = 10_000
MAX_PIXELS = 40_000_000  # a 40-megapixel photo; Pillow refuses a decompression bomb past it
MAX_PDF_PAGES = 200
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}


class NotADocument(ValueError):
    """Not a JPEG, PNG or PDF that parses, or out of bounds; the message says why."""


def check_document(content: bytes) -> tuple[str, bytes]:
    """(content type, the bytes to store) for an upload, or ``NotADocument``."""
    if content.startswith(b"%PDF-"):
        return "application/pdf", _pdf(content)
    return _image(content)


def _pdf(content: bytes) -> bytes:
    try:
        pages = len(PdfReader(io.BytesIO(content), strict=True).pages)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise NotADocument(f"not a readable PDF: {exc}") from exc
    if not 1 <= pages <= MAX_PDF_PAGES:
        raise NotADocument(f"a PDF of 1..{MAX_PDF_PAGES} pages, not {pages}")
    return content


def _image(content: bytes) -> tuple[str, bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(content)) as img:
                kind = img.format or ""
                if kind not in FORMATS:
                    raise NotADocument("only JPEG, PNG or PDF")
                width, height = img.size
                if max(width, height) > MAX_SIDE_PX or width * height > MAX_PIXELS:
                    raise NotADocument(f"at most {MAX_SIDE_PX} px a side, {MAX_PIXELS} pixels")
                img.load()
                return FORMATS[kind], _encoded(img, kind)
        except (
            UnidentifiedImageError,
            OSError,
            SyntaxError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ) as exc:
            raise NotADocument("not a JPEG, PNG or PDF that can be read") from exc


def _encoded(img: Image.Image, kind: str) -> bytes:
    """The pixels again, in the same format, with no metadata carried over."""
    if kind == "JPEG" and img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    out = io.BytesIO()
    img.save(out, format=kind, **({"quality": 90} if kind == "JPEG" else {}))
    return out.getvalue()
