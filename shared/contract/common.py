"""Field types shared by several topics' messages."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"),
    Field(examples=["sku-42"]),
]
Quantity = Annotated[int, Field(gt=0, le=1_000_000, description="A positive number of units", examples=[1])]
StockLevel = Annotated[int, Field(ge=0, le=100_000_000, description="A stock count", examples=[10])]
Email = Annotated[
    str,
    StringConstraints(max_length=254, pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"),
    Field(examples=["buyer@example.com"]),
]
Region = Annotated[
    str,
    StringConstraints(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$"),
    Field(description="ISO 3166-1 alpha-2 country code", examples=["US"]),
]
ListingType = Literal["regular", "backorder", "pre_order", "made_to_order"]
StockSource = Literal["regular", "backorder"]
