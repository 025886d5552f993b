from dcmsend.cli import run

run()
