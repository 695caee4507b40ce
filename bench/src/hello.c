/* The signed ELF of part 2: built with gcc -static -O2. */
int main(void)
{
	return 0;
}
