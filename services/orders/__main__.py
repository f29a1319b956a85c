from services.orders.app import DEFINITION
from shared.service import main

main(DEFINITION)
