from services.inventory.app import DEFINITION
from shared.service import main

main(DEFINITION)
