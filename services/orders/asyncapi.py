"""``faststream docs gen services.orders.asyncapi:app``"""

from services.orders.app import DEFINITION
from shared.asyncapi_app import docs_app

app = docs_app(DEFINITION)
