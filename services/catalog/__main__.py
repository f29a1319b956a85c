from services.catalog.app import DEFINITION
from shared.service import main

main(DEFINITION)
