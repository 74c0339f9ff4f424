"""``python -m jaxrec.data.readers --dataset=ml-100k``: prints the dataset's summary."""

from jaxrec.data.readers import main

main()
