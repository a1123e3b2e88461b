from grantledger.cli import main

main()
