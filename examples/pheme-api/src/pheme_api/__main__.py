from pheme_api.server import main

main()
