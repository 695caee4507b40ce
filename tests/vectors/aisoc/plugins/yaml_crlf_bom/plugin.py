print('crlf')
