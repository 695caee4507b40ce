# unicode path
