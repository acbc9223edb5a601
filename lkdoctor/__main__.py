from lkdoctor.cli import doctor

if __name__ == "__main__":
    doctor(prog_name="python -m lkdoctor")
