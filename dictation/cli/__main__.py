from dictation.cli import run

run()
