"""What an Idempotency-Key binds on the OpenAI edits form: its fields and its files' bytes."""

import io

from fastapi import UploadFile

from serve_app.schemas.openai import ImagesEditRequest


def form(filename: str = "photo.png", **fields) -> ImagesEditRequest:
    return ImagesEditRequest(image=UploadFile(io.BytesIO(b""), filename=filename), prompt="a red door", **fields)


def test_the_same_fields_and_bytes_are_the_same_request_whatever_the_file_names():
    assert form("a.png").identity(image=b"img", mask=b"mask") == form("b.png").identity(image=b"img", mask=b"mask")


def test_other_bytes_in_either_file_or_another_field_are_another_request():
    first = form().identity(image=b"img", mask=b"mask")
    others = [
        form().identity(image=b"img2", mask=b"mask"),
        form().identity(image=b"img", mask=b"mask2"),
        form().identity(image=b"img", mask=None),
        form(n=2).identity(image=b"img", mask=b"mask"),
    ]
    assert all(other != first for other in others)
    assert len({str(sorted(other.items())) for other in others}) == len(others)
