from dictation.cli import main

main()
